"""Confluent wire format: magic byte 0, the schema id as 4 big-endian bytes, the Avro body."""

from __future__ import annotations

import struct

from ucwatch.core.errors import ContractError

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")


def frame_header(schema_id: int) -> bytes:
    return HEADER.pack(MAGIC_BYTE, schema_id)


def split(data: bytes) -> tuple[int, memoryview]:
    """Returns (schema id, Avro body) of a framed record."""
    if data is None or len(data) < HEADER.size:
        raise ContractError("not_framed", f"record of {0 if data is None else len(data)} bytes "
                            "is too short for the Confluent wire format")
    magic, schema_id = HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise ContractError("not_framed", f"record starts with byte {magic}, not the magic byte 0")
    return schema_id, memoryview(data)[HEADER.size:]
