"""The policy parser on what an editor of the policy file can write: arbitrary TOML-ish
tables, the shipped policy with its keys and values mutated, and arbitrary text. Each
gives a Policy or a PolicyError that names the key at fault (and the rule, inside one),
never another exception."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fuzz.strategies import any_text, fuzz
from ucwatch.schemas.catalog import default_catalog
from ucwatch.streams.policy import OPERATORS, RECIPIENTS, SEVERITIES, Policy, PolicyError
from ucwatch.streams.policy_parser import DEFAULT_POLICY, policy_from_dict, policy_from_toml

DEFAULT = tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
CATALOG = default_catalog()
EVENT_TYPES = sorted(CATALOG.names())
FIELD_NAMES = sorted({f["name"] for name in EVENT_TYPES for f in CATALOG.latest(name).fields})
KEYS = sorted({"version", "case", "sets", "notify", "rule", "name", "severity", "basis", "reason", "start",
               "met_by", "met_any_time", "deadline", "escalate", "cancelled_by", "notify_kind",
               "contact_status", "event_type", "where", "any_of", "same", "set", "key", "count", "reset_by",
               "after", "from", "closed_by", "reopened_by", "kind", "on", "recipients", *OPERATORS})

# Values as the policy's own vocabulary has them, so that the fuzz gets past the first check.
words = st.sampled_from([*EVENT_TYPES, *FIELD_NAMES, *SEVERITIES, *RECIPIENTS, "*", "48h", "2d", "1d12h",
                         "immediate", "0s", "99999999999999999999w", "contact", "UNREACHABLE", "RULE_X"])
toml_scalars = (words | any_text | st.integers() | st.sampled_from([1, 0, -1, 2**63, 10**30]) | st.booleans()
                | st.floats(allow_nan=True) | st.datetimes(timezones=st.just(UTC)) | st.dates() | st.times())
keys = st.sampled_from(KEYS) | any_text


def toml_values(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """What tomllib can hand over: scalars, arrays and tables, nested."""
    return st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(keys, inner, max_size=5), max_leaves=max_leaves)


TOP_KEYS = {"version", "case", "sets", "notify", "rule"}


def parses_or_names_the_fault(data: Any) -> Policy | None:
    """The policy, or None after checking that the error names the key, and the rule when
    the key is one of a rule's (a top-level key is named from the top: `rule[2]`, `sets.x`)."""
    try:
        return policy_from_dict(data, origin="fuzz")
    except PolicyError as error:
        assert error.key is not None, f"no key named: {error}"
        tops = {*TOP_KEYS, *(data if isinstance(data, dict) else ())}
        from_top = any(error.key == top or error.key.startswith((top + ".", top + "[")) for top in tops)
        assert error.rule is not None or from_top, f"no rule named: {error}"
        assert str(error).startswith("fuzz")
        return None


@fuzz(200)
@given(st.dictionaries(keys, toml_values(15), max_size=6))
def test_any_table_gives_a_policy_or_an_error_naming_the_key(data: dict[str, Any]) -> None:
    parses_or_names_the_fault(data)


@fuzz(200)
@given(st.fixed_dictionaries({"version": st.just(1) | toml_scalars,
                              "rule": st.lists(st.dictionaries(keys, toml_values(12), max_size=8), max_size=3)},
                             optional={"sets": toml_values(10), "case": toml_values(10),
                                       "notify": toml_values(10)}))
def test_any_rules_give_a_policy_or_an_error_naming_the_rule_and_key(data: dict[str, Any]) -> None:
    parses_or_names_the_fault(data)


@st.composite
def mutated_default(draw: st.DrawFn) -> dict[str, Any]:
    """The shipped policy with one to four of its keys deleted, replaced, renamed or added,
    anywhere in the tree."""
    data = copy.deepcopy(DEFAULT)
    for _ in range(draw(st.integers(1, 4))):
        parent: Any = data
        while True:  # walk down to a random table or array
            children = list(parent.items()) if isinstance(parent, dict) else list(enumerate(parent))
            containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
            if not containers or draw(st.integers(0, 3)) == 0:
                break
            parent = draw(st.sampled_from(containers))[1]
        slots = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        action = draw(st.sampled_from(["delete", "replace", "rename", "add", "duplicate"]))
        if not slots:
            action = "add"
        slot = draw(st.sampled_from(slots)) if slots else None
        if action == "delete":
            del parent[slot]
        elif action == "replace":
            parent[slot] = draw(toml_values(8))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(slot)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[slot]))
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(toml_values(8))
        else:
            parent.append(draw(toml_values(8)))
    return data


@fuzz(300)
@given(mutated_default())
def test_a_mutated_default_policy_gives_a_policy_or_an_error_naming_the_key(data: dict[str, Any]) -> None:
    parses_or_names_the_fault(data)


@fuzz(200)
@given(st.text(max_size=200) | st.sampled_from([DEFAULT_POLICY.read_text(encoding="utf-8")[:n]
                                                 for n in range(0, 4000, 97)]))
def test_any_text_gives_a_policy_or_a_policy_error(text: str) -> None:
    try:
        policy_from_toml(text, origin="fuzz")
    except PolicyError as error:
        assert str(error).startswith("fuzz")

