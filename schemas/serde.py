"""Encode and decode lifecycle records in the Confluent wire format.

`Encoder.encode(schema, record)` needs an Avro-ready record (see `contract`); the schema id
comes from the registry once per schema and topic. `Decoder.decode(data)` resolves the
writer schema by id and reads the record, optionally into the newest reader schema of the
same record name so consumers see one shape whatever version the producer used.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Callable

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import Catalog, SchemaVersion
from schemas.fastpath import compile_encoder
from schemas.registry import SchemaRegistry
from schemas.wire import frame_header, split
from ucwatch.errors import ContractError


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
            raise ContractError("unencodable", f"{schema.name} cannot be encoded: {exc}",
                                event_type=schema.name) from exc
        return buffer.getvalue()


class Decoder:
    def __init__(self, registry: SchemaRegistry, catalog: Catalog | None = None) -> None:
        self._registry = registry
        self._catalog = catalog

    def decode(self, data: bytes) -> dict[str, Any]:
        return self.decode_named(data)[1]

    def decode_named(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(full name of the writer schema, record): tells ticks from lifecycle events."""
        schema_id, body = split(data)
        writer = self._registry.writer_schema(schema_id)
        reader = self._reader_for(writer)
        try:
            return writer["name"], schemaless_reader(BytesIO(body), writer, reader)
        except Exception as exc:  # fastavro raises many kinds on corrupt input
            raise ContractError("undecodable", f"record with schema id {schema_id} cannot be "
                                f"decoded: {type(exc).__name__}: {exc}") from exc

    def _reader_for(self, writer: Any) -> Any:
        if self._catalog is None:
            return None
        namespace, _, name = writer.get("name", "").rpartition(".")
        family = namespace.rsplit(".", 1)[-1] if namespace else ""
        try:
            return self._catalog.latest(name, family).parsed
        except ContractError:
            return None
