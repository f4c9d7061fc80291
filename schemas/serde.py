"""Encode and decode lifecycle records in the Confluent wire format.

`Encoder.encode(schema, record)` needs an Avro-ready record (see `contract`); the schema id
comes from the registry once per schema and topic. `Decoder.decode(data)` resolves the
writer schema by id and reads the record, optionally into the newest reader schema of the
same record name so consumers see one shape whatever version the producer used.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import to_parsing_canonical_form

from ucwatch.core.errors import ContractError
from ucwatch.schemas.catalog import Catalog, SchemaVersion
from ucwatch.schemas.fastpath import compile_encoder
from ucwatch.schemas.fastread import Decoder as FastDecoder
from ucwatch.schemas.fastread import compile_decoder
from ucwatch.schemas.registry import SchemaRegistry
from ucwatch.schemas.wire import HEADER, frame_header, split


class Encoder:
    def __init__(self, registry: SchemaRegistry, topic: str) -> None:
        self._registry = registry
        self._topic = topic
        self._writers: dict[SchemaVersion, tuple[bytes, Callable[[dict[str, Any]], bytes] | None]] = {}
        self._buffer = BytesIO()

    def encode(self, schema: SchemaVersion, record: dict[str, Any]) -> bytes:
        """Frames and encodes a record that passed the contract."""
        writer = self._writers.get(schema)
        if writer is None:
            writer = self._writers[schema] = (frame_header(self._registry.id_for(self._topic, schema)),
                                              compile_encoder(schema.definition))
        header, fast = writer
        if fast is not None:
            try:
                return header + fast(record)
            except (KeyError, TypeError, AttributeError, ValueError):
                pass  # let fastavro say precisely what is wrong with the record
        return self._encode_with_fastavro(header, schema, record)

    def _encode_with_fastavro(self, header: bytes, schema: SchemaVersion, record: dict[str, Any]) -> bytes:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        buffer.write(header)
        try:
            schemaless_writer(buffer, schema.parsed, record)
        except (ValueError, TypeError, KeyError) as exc:
            # The kind only: fastavro's message may quote the value.
            raise ContractError("unencodable", f"{schema.name} cannot be encoded ({type(exc).__name__})",
                                event_type=schema.name) from exc
        return buffer.getvalue()


class Decoder:
    """Reads framed records. With ``logical_types=False`` timestamps stay epoch milliseconds
    and dates days since the epoch (ints): what a columnar store wants, at half the cost."""

    def __init__(self, registry: SchemaRegistry, catalog: Catalog | None = None, *,
                 logical_types: bool = True) -> None:
        self._registry = registry
        self._catalog = catalog
        self._logical_types = logical_types
        self._readers: dict[int, tuple[str, Any, Any, FastDecoder | None]] = {}

    def decode(self, data: bytes) -> dict[str, Any]:
        return self.decode_named(data)[1]

    def decode_named(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(full name of the writer schema, record): tells ticks from lifecycle events."""
        schema_id, body = split(data)
        cached = self._readers.get(schema_id)
        if cached is None:
            cached = self._readers[schema_id] = self._prepare(schema_id)
        name, writer, reader, fast = cached
        if fast is not None:
            try:
                return name, fast(data, HEADER.size)
            except (ValueError, IndexError, TypeError, AttributeError):
                pass  # malformed: fastavro reads it as it always did, or says what is wrong
        try:
            record = schemaless_reader(BytesIO(body), writer, reader)
        except Exception as exc:  # fastavro raises many kinds on corrupt input
            raise ContractError("undecodable", f"record with schema id {schema_id} cannot be "
                                f"decoded: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict):
            raise ContractError("undecodable", f"schema id {schema_id} is not a record schema")
        return name, record

    def _prepare(self, schema_id: int) -> tuple[str, Any, Any, FastDecoder | None]:
        """(name, writer, reader or None when it is the writer, a generated decoder or None)
        for a schema id, once. The generated one (fastread.py) reads only the writer schema
        as it is: none when a reader schema or logical types have to be applied."""
        writer = self._registry.writer_schema(schema_id)
        reader = self._reader_for(writer)
        if reader is not None and canonical(reader) == canonical(writer):
            reader = None
        if not self._logical_types:
            writer = parse_schema(_without_logical_types(writer))
            reader = None if reader is None else parse_schema(_without_logical_types(reader))
        fast = compile_decoder(writer) if reader is None else None
        return writer["name"], writer, reader, fast

    def _reader_for(self, writer: Any) -> Any:
        if self._catalog is None:
            return None
        namespace, _, name = writer.get("name", "").rpartition(".")
        family = namespace.rsplit(".", 1)[-1] if namespace else ""
        try:
            return self._catalog.latest(name, family).parsed
        except ContractError:
            return None


def canonical(schema: Any) -> str:
    return to_parsing_canonical_form(schema)


def _without_logical_types(schema: Any) -> Any:
    """A copy of a parsed schema with every logicalType removed (values stay raw)."""
    if isinstance(schema, dict):
        return {key: _without_logical_types(value) for key, value in schema.items()
                if key != "logicalType" and not key.startswith("__")}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema
