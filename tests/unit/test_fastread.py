"""The generated decoders read exactly the records fastavro reads, and leave malformed ones
to fastavro."""

from __future__ import annotations

import io
import itertools

import fastavro
import pytest

from tests.helpers import FIELDS, sample_event
from ucwatch.core.errors import ContractError
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import EventContract
from ucwatch.schemas.fastread import compile_decoder
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder, _without_logical_types
from ucwatch.simulate import Simulation, SimulationConfig

CATALOG = default_catalog()
CONTRACT = EventContract(CATALOG)
REGISTRY = EmbeddedRegistry(CATALOG)


def _plain(schema):
    return fastavro.parse_schema(_without_logical_types(schema.parsed))


def _body(schema, record) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


def _both(plain, data: bytes):
    expected = fastavro.schemaless_reader(io.BytesIO(data), plain)
    decoder = compile_decoder(plain)
    assert decoder is not None
    return decoder(data, 0), expected


@pytest.mark.parametrize("event_type", sorted(FIELDS))
def test_every_lifecycle_schema_gets_a_decoder_equal_to_fastavro(event_type: str) -> None:
    schema, record = CONTRACT.normalize(sample_event(event_type))
    got, expected = _both(_plain(schema), _body(schema, record))
    assert got == expected
    assert list(got) == list(expected)
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_equal_to_fastavro_on_a_simulated_history() -> None:
    for event in itertools.islice(Simulation(SimulationConfig(seed=7, children=300)).events(), 3000):
        schema, record = CONTRACT.normalize(event)
        got, expected = _both(_plain(schema), _body(schema, record))
        assert got == expected, event


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, -65, 2 ** 31, -(2 ** 40), 2 ** 63 - 1, -(2 ** 63)])
def test_varints(value: int) -> None:
    plain = fastavro.parse_schema({"type": "record", "name": "N", "fields": [
        {"name": "n", "type": "long"}, {"name": "s", "type": "string"}, {"name": "o", "type": ["null", "int"]}]})
    data = io.BytesIO()
    fastavro.schemaless_writer(data, plain, {"n": value, "s": "é" * 70, "o": value % 1000})
    got, expected = _both(plain, data.getvalue())
    assert got == expected


def test_unsupported_shapes_fall_back() -> None:
    nested = {"type": "record", "name": "R", "fields": [
        {"name": "xs", "type": {"type": "array", "items": "int"}}]}
    assert compile_decoder(nested) is None
    wide_union = {"type": "record", "name": "U", "fields": [{"name": "x", "type": ["null", "int", "string"]}]}
    assert compile_decoder(wide_union) is None
    timestamp = {"type": "record", "name": "T", "fields": [
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
    assert compile_decoder(timestamp) is None


def _framed(event_type: str) -> bytes:
    schema, record = CONTRACT.normalize(sample_event(event_type))
    return Encoder(REGISTRY, "lifecycle").encode(schema, record)


@pytest.mark.parametrize("cut", [1, 2, 5, 20])
def test_a_truncated_record_fails_as_fastavro_says(cut: int) -> None:
    data = _framed("ChildEncountered")
    decoder = Decoder(REGISTRY, CATALOG, logical_types=False)
    with pytest.raises(ContractError) as raised:
        decoder.decode(data[:-cut])
    assert raised.value.code == "undecodable"


@pytest.mark.parametrize("bad", [b"\x04", b"\xff"])
def test_a_bad_boolean_byte_is_read_as_fastavro_reads_it(bad: bytes) -> None:
    schema, record = CONTRACT.normalize(sample_event("PostReleaseContact"))
    plain = _plain(schema)
    body = bytearray(_body(schema, record))
    fields = [f["name"] for f in plain["fields"]]
    position = len(_body(schema, {**record, "reached": True})) - 1   # `reached` is the last field
    assert fields[-1] == "reached"
    body[position:position + 1] = bad
    decoder = compile_decoder(plain)
    assert decoder is not None
    with pytest.raises(ValueError):
        decoder(bytes(body), 0)
    framed = _framed("PostReleaseContact")[:5] + bytes(body)
    try:
        expected = fastavro.schemaless_reader(io.BytesIO(bytes(body)), plain)
    except Exception:  # fastavro raises its own kinds
        with pytest.raises(ContractError):
            Decoder(REGISTRY, CATALOG, logical_types=False).decode(framed)
    else:
        assert Decoder(REGISTRY, CATALOG, logical_types=False).decode(framed) == expected
