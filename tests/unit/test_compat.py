"""The BACKWARD compatibility policy, on the shipped schemas and on a corpus of schema changes
whose verdict the Avro specification settles. The same corpus runs against a real registry in
tests/integration/test_http_registry.py; docs/ingest.md compares the checkers on it."""

from __future__ import annotations

import copy
import io
import itertools
from collections.abc import Callable
from typing import Any

import fastavro
import pytest

from ucwatch.schemas.catalog import Catalog, default_catalog
from ucwatch.schemas.compat import problems

CATALOG = default_catalog()
BASE = CATALOG.latest("WellbeingCallAttempted").definition


@pytest.mark.parametrize("family,name", sorted({(v.family, v.name) for v in CATALOG.all()}))
def test_each_shipped_version_reads_data_of_the_one_before(family: str, name: str) -> None:
    versions = CATALOG.versions(name, family)
    for older, newer in itertools.pairwise(versions):
        assert problems(newer.definition, older.definition) == [], f"{name} v{newer.version}"


def _changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def _record(*types: Any, name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": f"f{n}", "type": t} for n, t in enumerate(types)]}


def _enum(name: str, *symbols: str) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols)}


# (label, writer = the old version, reader = the new version, compatible per the Avro spec)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("optional field added", BASE, _changed(lambda s: s["fields"].append(
        {"name": "language", "type": ["null", "string"], "default": None})), True),
    ("field added without a default", BASE, _changed(lambda s: s["fields"].append(
        {"name": "language", "type": "string"})), False),
    ("enum symbol removed", BASE, _changed(lambda s: _field(s, "outcome")["type"]["symbols"].remove("REFUSED")), False),
    ("enum symbol added", BASE, _changed(lambda s: _field(s, "outcome")["type"]["symbols"].append("LATER")), True),
    ("enum symbol removed, reader enum has a default", BASE, _changed(lambda s: (
        _field(s, "outcome")["type"]["symbols"].remove("REFUSED"),
        _field(s, "outcome")["type"].update(default="NO_ANSWER"))), True),
    ("long narrowed to int", BASE, _changed(lambda s: _field(s, "occurred_at").update(type="int")), False),
    ("optional made required", BASE, _changed(lambda s: (
        _field(s, "lives_with_sponsor").update(type="boolean"), _field(s, "lives_with_sponsor").pop("default"))),
     False),
    ("required made optional", BASE, _changed(lambda s: _field(s, "safety_concern").update(
        type=["null", "boolean"], default=None)), True),
    ("record renamed", BASE, _changed(lambda s: s.update(name="WellbeingCall")), False),
    ("record renamed with an alias", BASE, _changed(lambda s: s.update(
        name="WellbeingCall", aliases=["gov.ucwatch.lifecycle.WellbeingCallAttempted"])), True),
    ("namespace changed", BASE, _changed(lambda s: s.update(namespace="gov.other")), True),
    ("field removed", BASE, _changed(lambda s: s["fields"].remove(_field(s, "address_confirmed"))), True),
    ("field renamed with an alias", BASE, _changed(lambda s: _field(s, "attempt").update(
        name="attempt_no", aliases=["attempt"])), True),
    ("field renamed without an alias", BASE, _changed(lambda s: _field(s, "attempt").update(name="attempt_no")),
     False),
    ("int promoted to long", _record("int"), _record("long"), True),
    ("int promoted to double", _record("int"), _record("double"), True),
    ("double narrowed to float", _record("double"), _record("float"), False),
    ("string read as bytes", _record("string"), _record("bytes"), True),
    ("bytes read as string", _record("bytes"), _record("string"), True),
    ("timestamp-millis read as timestamp-micros", _record({"type": "long", "logicalType": "timestamp-millis"}),
     _record({"type": "long", "logicalType": "timestamp-micros"}), True),
    ("fixed size changed", _record({"type": "fixed", "name": "F", "size": 4}),
     _record({"type": "fixed", "name": "F", "size": 8}), False),
    ("enum renamed", _record(_enum("E", "A")), _record(_enum("E2", "A")), False),
    ("union widened", _record(["null", "string"]), _record(["null", "string", "int"]), True),
    ("union narrowed", _record(["null", "string", "int"]), _record(["null", "string"]), False),
    ("union read as one of its branches", _record(["int", "string"]), _record("string"), False),
    ("scalar read as a union", _record("string"), _record(["null", "string"]), True),
    ("int read as a union of long", _record("int"), _record(["null", "long"]), True),
    ("array items int promoted to long", _record({"type": "array", "items": "int"}),
     _record({"type": "array", "items": "long"}), True),
    ("array items long narrowed to int", _record({"type": "array", "items": "long"}),
     _record({"type": "array", "items": "int"}), False),
    ("map values string read as int", _record({"type": "map", "values": "string"}),
     _record({"type": "map", "values": "int"}), False),
    ("nested record gains a field without a default", _record(_record("int", name="N")),
     _record(_record("int", "int", name="N")), False),
    ("array read as a map", _record({"type": "array", "items": "int"}), _record({"type": "map", "values": "int"}),
     False),
    # Not a compatibility rule but a broken schema: no reader can use that default. Avro's
    # checker alone says compatible; fastavro's parser (run first) and the registry refuse it.
    ("new field whose default does not match its type", BASE, _changed(lambda s: s["fields"].append(
        {"name": "language", "type": "string", "default": None})), False),
]


@pytest.mark.parametrize("label,writer,reader,compatible", CASES, ids=[case[0] for case in CASES])
def test_verdicts_follow_the_avro_specification(label: str, writer: dict[str, Any], reader: dict[str, Any],
                                                compatible: bool) -> None:
    found = problems(reader, writer)
    assert (found == []) is compatible, found
    assert all(isinstance(line, str) and line for line in found)


def test_a_problem_says_what_and_where() -> None:
    (line,) = problems(_changed(lambda s: _field(s, "occurred_at").update(type="int")), BASE)
    assert line.startswith("type_mismatch: reader type: int not compatible with writer type: long")
    assert "/fields/3/type" in line


def test_adding_an_optional_field_really_reads_old_data() -> None:
    newer = CASES[0][2]
    buffer = io.BytesIO()
    record = {"event_id": "e", "event_type": "WellbeingCallAttempted", "child_id": "SYN-CH-1", "occurred_at": 0,
              "recorded_at": 0, "source": "ORR", "synthetic": True, "attempt": 1, "outcome": "NO_ANSWER",
              "lives_with_sponsor": None, "address_confirmed": None, "safety_concern": False}
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(BASE), record)
    buffer.seek(0)
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(BASE), fastavro.parse_schema(newer))
    assert read["language"] is None


def test_ids_are_stable_and_distinct() -> None:
    again = Catalog.load()
    assert [v.schema_id for v in again.all()] == [v.schema_id for v in CATALOG.all()]
    assert len({v.schema_id for v in CATALOG.all()}) == len(CATALOG.all())
