"""The generated encoders write exactly the bytes fastavro writes, for every schema."""

from __future__ import annotations

import io
import itertools

import fastavro
import pytest

from tests.helpers import FIELDS, sample_event
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import EventContract
from ucwatch.schemas.fastpath import compile_encoder, encode_long
from ucwatch.simulate import Simulation, SimulationConfig

CONTRACT = EventContract(default_catalog())


def _fastavro(schema, record) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


@pytest.mark.parametrize("event_type", sorted(FIELDS))
def test_every_schema_gets_an_encoder_equal_to_fastavro(event_type: str) -> None:
    schema, record = CONTRACT.normalize(sample_event(event_type))
    encoder = compile_encoder(schema.definition)
    assert encoder is not None
    assert encoder(record) == _fastavro(schema, record)


def test_equal_to_fastavro_on_a_simulated_history() -> None:
    events = itertools.islice(Simulation(SimulationConfig(seed=5, children=300)).events(), 3000)
    encoders = {}
    for event in events:
        schema, record = CONTRACT.normalize(event)
        encoder = encoders.setdefault(schema.name, compile_encoder(schema.definition))
        assert encoder(record) == _fastavro(schema, record), event


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 1023, 1024, 2 ** 31, -(2 ** 40), 1_614_600_000_123])
def test_zigzag_varints(value: int) -> None:
    schema = {"type": "record", "name": "N", "fields": [{"name": "n", "type": "long"}]}
    assert encode_long(value) == _fastavro(type("S", (), {"parsed": fastavro.parse_schema(schema)}), {"n": value})


def test_unsupported_shapes_fall_back() -> None:
    mapped = {"type": "record", "name": "R", "fields": [{"name": "xs", "type": {"type": "map", "values": "int"}}]}
    assert compile_encoder(mapped) is None
    wide_union = {"type": "record", "name": "U", "fields": [{"name": "x", "type": ["null", "int", "string"]}]}
    assert compile_encoder(wide_union) is None


@pytest.mark.parametrize("items", [[], [3], [-1, 0, 2 ** 40], list(range(1100))])
def test_arrays_of_primitives(items: list[int]) -> None:
    schema = {"type": "record", "name": "A", "fields": [{"name": "xs", "type": {"type": "array", "items": "long"}},
                                                          {"name": "tail", "type": "string"}]}
    encoder = compile_encoder(schema)
    assert encoder is not None
    record = {"xs": items, "tail": "end"}
    assert encoder(record) == _fastavro(type("S", (), {"parsed": fastavro.parse_schema(schema)}), record)


def test_the_output_schemas_compile_nested_ones_included() -> None:
    """The child-state snapshot (an array of open-alert records) used to go through fastavro."""
    catalog = default_catalog()
    snapshot = catalog.latest("ChildStateSnapshot", "state")
    encoder = compile_encoder(snapshot.definition)
    assert encoder is not None
    for alerts in ([], [{"alert_id": "a" * 32, "rule": "LOST_CONTACT", "severity": "HIGH"},
                        {"alert_id": "b" * 32, "rule": "STALE_CASE", "severity": "LOW"}]):
        record = {"child_id": "SYN-CH-000000001", "custody_status": "RELEASED_TO_SPONSOR",
                  "contact_status": "UNREACHABLE", "court_status": "NTA_FILED", "next_hearing_at": None,
                  "last_contact_at": 1_614_600_000_123, "last_event_at": 1_614_600_000_124, "events_seen": 12,
                  "open_alerts": alerts, "as_of": 1_614_700_000_000, "synthetic": True, "release_state": "TX"}
        assert encoder(record) == _fastavro(snapshot, record)
    for name, family in (("AlertChanged", "alerts"), ("NotificationSent", "notifications")):
        assert compile_encoder(catalog.latest(name, family).definition) is not None
