"""BACKWARD compatibility: can a reader with the new schema read data the old one wrote?

The rules are Avro's schema resolution rules (specification, "Schema Resolution"):
records match by full name and take each reader field from the writer field of the same
name or from the reader's default; enums must know every writer symbol unless the reader
has a default; numbers may be promoted (int -> long -> float -> double); a writer union
needs every branch readable, a reader union one matching branch. Logical types ride on
their base types. `problems` returns readable paths of every incompatibility; empty
means compatible.
"""

from __future__ import annotations

from typing import Any

import fastavro

PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
              "string": {"bytes"}, "bytes": {"string"}}


def problems(reader_schema: Any, writer_schema: Any) -> list[str]:
    reader = fastavro.parse_schema(reader_schema, expand=True, _write_hint=False)
    writer = fastavro.parse_schema(writer_schema, expand=True, _write_hint=False)
    found: list[str] = []
    _check(reader, writer, _name(writer) or "$", found)
    return found


def _type_of(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return schema["type"] if isinstance(schema["type"], str) else _type_of(schema["type"])
    return schema


def _name(schema: Any) -> str | None:
    return schema.get("name") if isinstance(schema, dict) else None


def _check(reader: Any, writer: Any, path: str, found: list[str]) -> None:
    if isinstance(writer, list):
        for branch in writer:
            if not _readable(reader, branch):
                found.append(f"{path}: writer branch {_type_of(branch)} has no readable branch in the reader")
        return
    if isinstance(reader, list):
        if not any(_readable(branch, writer) for branch in reader):
            found.append(f"{path}: no reader union branch reads writer type {_type_of(writer)}")
        return
    if isinstance(reader, dict) and not isinstance(reader.get("type"), str):
        return _check(reader["type"], writer, path, found)
    if isinstance(writer, dict) and not isinstance(writer.get("type"), str):
        return _check(reader, writer["type"], path, found)
    r_type, w_type = _type_of(reader), _type_of(writer)
    if r_type != w_type:
        if r_type not in PROMOTIONS.get(w_type, set()):
            found.append(f"{path}: writer type {w_type} cannot be read as {r_type}")
        return
    if r_type == "record":
        _check_record(reader, writer, path, found)
    elif r_type == "enum":
        if _name(reader) != _name(writer):
            found.append(f"{path}: enum renamed from {_name(writer)} to {_name(reader)}")
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            found.append(f"{path}: reader enum lacks writer symbol(s) {', '.join(missing)} and has no default")
    elif r_type == "array":
        _check(reader["items"], writer["items"], f"{path}[]", found)
    elif r_type == "map":
        _check(reader["values"], writer["values"], f"{path}{{}}", found)
    elif r_type == "fixed":
        if _name(reader) != _name(writer) or reader["size"] != writer["size"]:
            found.append(f"{path}: fixed {_name(writer)}({writer['size']}) cannot be read as "
                         f"{_name(reader)}({reader['size']})")


def _check_record(reader: dict[str, Any], writer: dict[str, Any], path: str, found: list[str]) -> None:
    if _name(reader) != _name(writer) and _name(writer) not in reader.get("aliases", []):
        found.append(f"{path}: record renamed from {_name(writer)} to {_name(reader)}")
        return
    writer_fields = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        names = [field["name"], *field.get("aliases", [])]
        source = next((writer_fields[n] for n in names if n in writer_fields), None)
        if source is None:
            if "default" not in field:
                found.append(f"{path}.{field['name']}: new field without a default")
            continue
        _check(field["type"], source["type"], f"{path}.{field['name']}", found)


def _readable(reader: Any, writer: Any) -> bool:
    found: list[str] = []
    _check(reader, writer, "", found)
    return not found
