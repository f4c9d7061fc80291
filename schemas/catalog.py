"""Every schema version shipped in `schemas/avro/`, with its stable embedded id.

Layout: ``avro/<family>/<RecordName>/v<N>.avsc``. The family is the topic family
(``lifecycle`` for the events of domain.md). Versions are never edited once published:
a change is a new file, checked BACKWARD compatible with the previous one by the tests.

The embedded id of a version is derived from the SHA-256 of its Parsing Canonical Form,
so every process, machine and replay gives the same id to the same schema without a
ledger, and an edited file can never silently reuse an old id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from ucwatch.core.errors import ContractError, SchemaIdUnknown, UnknownEventType

AVRO_DIR = Path(__file__).with_name("avro")
LIFECYCLE = "lifecycle"
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    family: str
    name: str
    """The record name; for lifecycle events it is the event_type."""
    version: int
    definition: dict[str, Any] = field(repr=False, compare=False)

    @cached_property
    def parsed(self) -> Any:
        return fastavro.parse_schema(self.definition)

    @cached_property
    def canonical(self) -> str:
        return to_parsing_canonical_form(self.parsed)

    @cached_property
    def text(self) -> str:
        """The schema as registered: the full JSON, docs included."""
        return json.dumps(self.definition, separators=(",", ":"))

    @cached_property
    def schema_id(self) -> int:
        digest = hashlib.sha256(self.canonical.encode()).digest()
        # Positive int32, never 0 (some registries reserve it).
        return int.from_bytes(digest[:4], "big") % 0x7FFFFFFE + 1

    @property
    def fullname(self) -> str:
        namespace = self.definition.get("namespace")
        return f"{namespace}.{self.name}" if namespace else self.name

    @property
    def fields(self) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = self.definition["fields"]
        return fields


class Catalog:
    """All schema versions of all families, indexed by name and by embedded id."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_name: dict[tuple[str, str], list[SchemaVersion]] = {}
        self._by_id: dict[int, SchemaVersion] = {}
        for version in sorted(versions, key=lambda v: (v.family, v.name, v.version)):
            self._by_name.setdefault((version.family, version.name), []).append(version)
            clash = self._by_id.get(version.schema_id)
            if clash is not None and clash.canonical != version.canonical:
                raise ContractError("schema_id_clash",
                                    f"{version.name} v{version.version} and {clash.name} "
                                    f"v{clash.version} hash to the same id {version.schema_id}")
            self._by_id.setdefault(version.schema_id, version)

    @classmethod
    def load(cls, root: Path = AVRO_DIR) -> Catalog:
        versions = []
        for path in sorted(root.glob("*/*/v*.avsc")):
            match = _VERSION_FILE.match(path.name)
            if not match:
                continue
            definition = json.loads(path.read_text())
            if definition.get("name") != path.parent.name:
                raise ContractError("schema_misplaced",
                                    f"{path} defines {definition.get('name')!r}, not {path.parent.name!r}")
            versions.append(SchemaVersion(path.parent.parent.name, path.parent.name,
                                          int(match.group(1)), definition))
        return cls(versions)

    def names(self, family: str = LIFECYCLE) -> list[str]:
        return sorted(name for fam, name in self._by_name if fam == family)

    def versions(self, name: str, family: str = LIFECYCLE) -> list[SchemaVersion]:
        try:
            return self._by_name[(family, name)]
        except KeyError:
            raise UnknownEventType(name) from None

    def latest(self, name: str, family: str = LIFECYCLE) -> SchemaVersion:
        return self.versions(name, family)[-1]

    def by_id(self, schema_id: int) -> SchemaVersion:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaIdUnknown(schema_id) from None

    def all(self) -> list[SchemaVersion]:
        return [v for versions in self._by_name.values() for v in versions]


@functools.cache
def default_catalog() -> Catalog:
    """The catalog of schemas/avro, loaded once per process."""
    return Catalog.load()
