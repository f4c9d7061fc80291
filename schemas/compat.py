"""BACKWARD compatibility: can a reader with the new schema read data the old one wrote?

Decided by Apache Avro's own reader/writer compatibility checker (`avro.compatibility`,
the Python port of Java's `SchemaCompatibility`, the rules Confluent's and Apicurio's
registries apply), after fastavro has parsed each schema on its own: the checker does not
look at defaults, and a default that does not match its field's type (``"type": "string",
"default": null``) passes it though no reader can use it. `problems` returns one readable
line per incompatibility; empty means compatible.

ucwatch had its own checker here; on a corpus of 33 schema changes (tests/unit/test_compat.py,
run against a real registry too) it agreed with this one everywhere except that it refused a
namespace change the Avro specification allows (records match by unqualified name), and it
caught no case that both this checker and the registry missed. docs/ingest.md has the table.

Needs the `avro` package (the `test` extra): the check runs in the tests, on every shipped
pair of versions, and on a new schema before it is added.
"""

from __future__ import annotations

import json
from typing import Any

import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.errors import AvroException


def problems(reader_schema: Any, writer_schema: Any) -> list[str]:
    found = [*_invalid("reader", reader_schema), *_invalid("writer", writer_schema)]
    if found:
        return found
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro: unannotated __init__
    result = checker.get_compatibility(
        avro.schema.parse(json.dumps(reader_schema)), avro.schema.parse(json.dumps(writer_schema)))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    where = ", ".join(sorted(result.locations - {"/"})) or "/"
    return [f"{kind.value}: {', '.join(sorted(result.messages))} (at {where})"
            for kind in result.incompatibilities] or [f"incompatible (at {where})"]


def _invalid(role: str, schema: Any) -> list[str]:
    """A schema that is not valid on its own (fastavro checks names, types and defaults)."""
    try:
        fastavro.parse_schema(schema, _write_hint=False)
        avro.schema.parse(json.dumps(schema))
    except (fastavro.schema.SchemaParseException, fastavro.schema.UnknownType, AvroException,
            ValueError, TypeError, KeyError) as exc:
        return [f"{role} schema is not valid: {exc}"]
    return []
