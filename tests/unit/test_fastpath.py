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
    nested = {"type": "record", "name": "R", "fields": [{"name": "xs", "type": {"type": "array", "items": "int"}}]}
    assert compile_encoder(nested) is None
