"""Shared hypothesis strategies and the suite's settings."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
"""The suite's profile: the same examples every run, no timing flakiness."""


def fuzz(examples: int) -> settings:
    """The suite's profile with this many examples (the suite stays within its time budget)."""
    return settings(FUZZ, max_examples=examples)

SECRET = "maria lopez 12 elm street"
"""A value no contract field accepts; it must never show up in an error or a dead letter."""

# Text as an export may hold it: any code point, lone surrogates included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["", " ", "\ud800", "a\udcff", "A012345678", "A-012-345-678", SECRET, "SYN-CH-000000001\n", "NaN"])

huge_ints = st.integers() | st.sampled_from([10**30, -(10**30), 2**63, -(2**63) - 1, 10**4000])

scalars = st.none() | st.booleans() | huge_ints | st.floats(allow_nan=True, allow_infinity=True) | any_text


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """JSON-ish values: scalars, lists and objects nested to any depth."""
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                        st.dictionaries(any_text, inner, max_size=4), max_leaves=max_leaves)


def deeply_nested(depth: int) -> Any:
    value: Any = SECRET
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


def avro_value(schema: Any, names: dict[str, Any], *,  # noqa: PLR0911 (one per Avro type)
               millis: bool = False) -> st.SearchStrategy[Any]:
    """Values of an Avro schema (as fastavro takes them), so any record of any schema can be made;
    with `millis`, timestamps are epoch milliseconds (as the contract hands them on)."""
    if isinstance(schema, str):
        if schema in names:
            return avro_value(names[schema], names, millis=millis)
        return _PRIMITIVES[schema]
    if isinstance(schema, list):
        return st.one_of([avro_value(branch, names, millis=millis) for branch in schema])
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "timestamp-millis" and millis:
        return st.integers(-(2**62), 2**62)
    if logical == "timestamp-millis":
        return st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1),
                            timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
    if logical == "date":
        return st.dates(min_value=date(1970, 1, 2))
    if kind == "record":
        names[schema["name"]] = schema
        if "namespace" in schema:
            names[f"{schema['namespace']}.{schema['name']}"] = schema
        return st.fixed_dictionaries({f["name"]: avro_value(f["type"], names, millis=millis)
                                      for f in schema["fields"]})
    if kind == "enum":
        names[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(avro_value(schema["items"], names, millis=millis), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), avro_value(schema["values"], names, millis=millis), max_size=3)
    return avro_value(kind, names, millis=millis)


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1), "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False), "bytes": st.binary(max_size=10),
    "string": st.text(max_size=20) | st.text(string.ascii_uppercase, max_size=5),
}
