"""The Avro decoders of every topic, for every schema in the catalog, on arbitrary bytes
and on mutated valid frames: a record or a ContractError, never another exception."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fuzz.strategies import avro_value, fuzz
from ucwatch.core.errors import ContractError
from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.fastpath import compile_encoder
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.schemas.wire import frame_header

CATALOG = default_catalog()
SCHEMAS = CATALOG.all()
REGISTRY = EmbeddedRegistry(CATALOG)
# The workers read with logical types, the sink without (epoch millis stay ints).
DECODERS = [Decoder(REGISTRY, CATALOG), Decoder(REGISTRY, CATALOG, logical_types=False), Decoder(REGISTRY)]


def _decode_or_refuse(data: bytes) -> list[dict[str, Any]]:
    decoded = []
    for decoder in DECODERS:
        try:
            decoded.append(decoder.decode(data))
        except ContractError:
            continue
    return decoded


def _encode(schema: SchemaVersion, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return frame_header(schema.schema_id) + buffer.getvalue()


@fuzz(300)
@given(data=st.binary(max_size=64))
def test_any_bytes(data: bytes) -> None:
    _decode_or_refuse(data)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: f"{s.name}-v{s.version}")
@fuzz(60)
@given(body=st.binary(max_size=200))
def test_any_body_behind_a_valid_header(schema: SchemaVersion, body: bytes) -> None:
    _decode_or_refuse(frame_header(schema.schema_id) + body)


def _mutated(frame: bytes, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete", "varint"]))
    at = data.draw(st.integers(0, len(frame) - 1))
    if kind == "flip":
        return frame[:at] + bytes([frame[at] ^ data.draw(st.integers(1, 255))]) + frame[at + 1:]
    if kind == "truncate":
        return frame[:at]
    if kind == "insert":
        return frame[:at] + data.draw(st.binary(min_size=1, max_size=8)) + frame[at:]
    if kind == "delete":
        return frame[:at] + frame[at + data.draw(st.integers(1, 4)):]
    # a huge length or count where a small one was: the classic way to make a reader allocate
    return frame[:at] + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f" + frame[at + 1:]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: f"{s.name}-v{s.version}")
@fuzz(60)
@given(data=st.data())
def test_mutated_valid_frames(schema: SchemaVersion, data: st.DataObject) -> None:
    record = data.draw(avro_value(schema.definition, {}))
    frame = _encode(schema, record)
    assert len(_decode_or_refuse(frame)) == len(DECODERS)  # the frame itself reads everywhere
    _decode_or_refuse(_mutated(frame, data))


@pytest.mark.parametrize("schema", [s for s in SCHEMAS if compile_encoder(s.definition) is not None],
                         ids=lambda s: f"{s.name}-v{s.version}")
@fuzz(60)
@given(data=st.data())
def test_the_fast_encoder_writes_fastavros_bytes_for_any_record(schema: SchemaVersion, data: st.DataObject) -> None:
    record = data.draw(avro_value(schema.definition, {}, millis=True))
    encoder = compile_encoder(schema.definition)
    assert encoder is not None
    assert frame_header(schema.schema_id) + encoder(record) == _encode(schema, record)
