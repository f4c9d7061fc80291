"""The BACKWARD compatibility policy, on the shipped schemas and on known bad changes."""

from __future__ import annotations

import copy
import io

import fastavro
import pytest

from ucwatch.schemas.catalog import Catalog, default_catalog
from ucwatch.schemas.compat import problems

CATALOG = default_catalog()
BASE = CATALOG.latest("WellbeingCallAttempted").definition


@pytest.mark.parametrize("family,name", sorted({(v.family, v.name) for v in CATALOG.all()}))
def test_each_shipped_version_reads_data_of_the_one_before(family: str, name: str) -> None:
    versions = CATALOG.versions(name, family)
    for older, newer in zip(versions, versions[1:]):
        assert problems(newer.definition, older.definition) == [], f"{name} v{newer.version}"


def _changed(change) -> dict:
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


def _field(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_adding_an_optional_field_is_compatible() -> None:
    newer = _changed(lambda s: s["fields"].append({"name": "language", "type": ["null", "string"],
                                                   "default": None}))
    assert problems(newer, BASE) == []
    # and the data really reads: write with the old schema, read with the new one
    buffer = io.BytesIO()
    record = {"event_id": "e", "event_type": "WellbeingCallAttempted", "child_id": "SYN-CH-1", "occurred_at": 0,
              "recorded_at": 0, "source": "ORR", "synthetic": True, "attempt": 1, "outcome": "NO_ANSWER",
              "lives_with_sponsor": None, "address_confirmed": None, "safety_concern": False}
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(BASE), record)
    buffer.seek(0)
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(BASE), fastavro.parse_schema(newer))
    assert read["language"] is None


@pytest.mark.parametrize("label,change,fragment", [
    ("new field without default",
     lambda s: s["fields"].append({"name": "language", "type": "string"}), "without a default"),
    ("enum symbol removed",
     lambda s: _field(s, "outcome")["type"]["symbols"].remove("REFUSED"), "lacks writer symbol"),
    ("type narrowed", lambda s: _field(s, "occurred_at").update(type="int"), "cannot be read as int"),
    ("optional made required",
     lambda s: (_field(s, "lives_with_sponsor").update(type="boolean"), _field(s, "lives_with_sponsor").pop("default")),
     "no readable branch"),
    ("record renamed", lambda s: s.update(name="WellbeingCall"), "renamed"),
])
def test_incompatible_changes_are_caught(label: str, change, fragment: str) -> None:
    found = problems(_changed(change), BASE)
    assert found and any(fragment in p for p in found), found


def test_ids_are_stable_and_distinct() -> None:
    again = Catalog.load()
    assert [v.schema_id for v in again.all()] == [v.schema_id for v in CATALOG.all()]
    assert len({v.schema_id for v in CATALOG.all()}) == len(CATALOG.all())
