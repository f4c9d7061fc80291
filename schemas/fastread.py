"""Generated Avro decoders for the lifecycle records: the same records as fastavro, faster.

fastavro's `schemaless_reader` was about a tenth of the worker's own CPU per record
(bench/own_code.py): a call's fixed cost (the schema's named types, an options dict, a
stream) and generic dispatch per field. The lifecycle records are flat: strings, longs,
ints, booleans, enums and [null, T] unions of those, so for each such writer schema we
generate one function that reads the fields straight from the bytes, as fastpath.py does
for encoding. Anything else (nested records, arrays, maps, logical types, wider unions)
gives None from `compile_decoder`, and the caller keeps fastavro.

A generated decoder is strict: on anything fastavro might read differently (a body too
short, a varint over 64 bits, a negative length, a boolean byte other than 0 or 1, an
enum or union index out of range, invalid UTF-8) it raises `ValueError` or `IndexError`,
and the caller hands the same bytes to fastavro, so that malformed records fail (or not)
exactly as they did. The tests check equality with fastavro (tests/unit/test_fastread.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Decoder = Callable[[bytes, int], dict[str, Any]]
"""decode(data, start) -> the record whose body starts at `start` of `data`"""


class _Unsupported(Exception):
    pass


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """(the zigzag varint at `pos`, the position after it)."""
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 63:
            raise ValueError("varint longer than 64 bits")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
    return (value >> 1) ^ -(value & 1), pos


def _varint_lines(target: str) -> list[str]:
    """`target` = the zigzag varint at `pos`, `pos` moved past it: one byte inline (enum
    and union indexes, string lengths and small ints mostly fit), longer ones by call."""
    return ["    b = data[pos]",
            "    if b < 0x80:",
            "        pos += 1",
            f"        {target} = (b >> 1) ^ -(b & 1)",
            "    else:",
            f"        {target}, pos = read_long(data, pos)"]


def _index_lines(target: str, count: int) -> list[str]:
    """An enum symbol's or a union branch's index, checked against `count`."""
    return [*_varint_lines(target),
            f"    if not 0 <= {target} < {count}:\n        raise IndexError('index out of range')"]


def _string_lines(target: str) -> list[str]:
    return [*_varint_lines("n"),
            "    if n < 0:\n        raise ValueError('negative string length')",
            f"    {target} = data[pos:pos + n].decode()",
            "    pos += n"]


def _boolean_lines(target: str) -> list[str]:
    return ["    b = data[pos]",
            "    if b > 1:\n        raise ValueError('boolean byte neither 0 nor 1')",
            f"    {target} = b == 1",
            "    pos += 1"]


_LINES = {"string": _string_lines, "long": _varint_lines, "int": _varint_lines, "boolean": _boolean_lines}


def compile_decoder(schema: dict[str, Any]) -> Decoder | None:
    """A decoder for a flat record schema (fastavro's parsed form or the plain definition,
    without logical types), or None when its shape is not supported."""
    if schema.get("type") != "record":
        return None
    namespace: dict[str, Any] = {"read_long": read_long}
    lines = ["def decode(data, pos):"]
    names = []
    try:
        for number, field in enumerate(schema["fields"]):
            variable = f"v{number}"
            lines.extend(_field_lines(variable, field["type"], namespace))
            names.append(f"{field['name']!r}: {variable}")
    except _Unsupported:
        return None
    lines.append("    if pos > len(data):\n        raise IndexError('record body too short')")
    lines.append(f"    return {{{', '.join(names)}}}")
    local: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<avro decoder {schema.get('name')}>", "exec"), namespace, local)
    decode: Decoder = local["decode"]
    return decode


def _field_lines(variable: str, avro_type: Any, namespace: dict[str, Any]) -> list[str]:
    if isinstance(avro_type, list):
        if len(avro_type) != 2 or avro_type[0] != "null":
            raise _Unsupported(avro_type)
        inner = ["    " + line.replace("\n", "\n    ") for line in _field_lines(variable, avro_type[1], namespace)]
        return [*_index_lines("branch", 2), f"    if branch == 0:\n        {variable} = None", "    else:", *inner]
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") is not None:
            raise _Unsupported(avro_type)
        if avro_type["type"] == "enum":
            table = f"_symbols_{variable}"
            namespace[table] = tuple(avro_type["symbols"])
            return [*_index_lines("index", len(avro_type["symbols"])), f"    {variable} = {table}[index]"]
        return _field_lines(variable, avro_type["type"], namespace)
    lines = _LINES.get(avro_type) if isinstance(avro_type, str) else None
    if lines is None:
        raise _Unsupported(avro_type)
    return lines(variable)
