"""Where schema ids come from, and the subject-name strategy.

Lifecycle events of every type share one topic (so that a child's events stay in order),
hence the subject of a schema is ``<topic>-<record fullname>`` (Confluent's
TopicRecordNameStrategy), a plain function so other strategies can be passed in.

- `EmbeddedRegistry`: ids are the catalog's stable ids; needs no server. `ucwatch registry
  serve` exposes it over Confluent's REST API so any Confluent consumer can decode.
- `HttpRegistry`: a Confluent-compatible registry (Confluent, Apicurio's ccompat API,
  Karapace) over HTTP: schemas are registered on first use, ids cached.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import fastavro
import httpx

from ucwatch.core.errors import RegistryError, SchemaIdUnknown
from ucwatch.schemas.catalog import Catalog, SchemaVersion

SubjectNameStrategy = Callable[[str, SchemaVersion], str]


def topic_record_subject(topic: str, schema: SchemaVersion) -> str:
    return f"{topic}-{schema.fullname}"


class SchemaRegistry(Protocol):
    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        """The id under which `schema` is known, registering it if needed."""

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema of an id."""


class EmbeddedRegistry:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        return schema.schema_id

    def writer_schema(self, schema_id: int) -> Any:
        return self.catalog.by_id(schema_id).parsed


class HttpRegistry:
    CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

    def __init__(self, url: str, subject_name: SubjectNameStrategy = topic_record_subject,
                 timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._subject_name = subject_name
        self._client = httpx.Client(timeout=timeout_s, headers={"Content-Type": self.CONTENT_TYPE,
                                                                "Accept": self.CONTENT_TYPE})
        self._ids: dict[tuple[str, str], int] = {}
        self._writers: dict[int, Any] = {}
        self._lock = threading.Lock()

    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        subject = self._subject_name(topic, schema)
        key = (subject, schema.canonical)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        with self._lock:
            body = self._request("POST", f"/subjects/{quote(subject, safe='')}/versions",
                                 {"schema": schema.text, "schemaType": "AVRO"})
            schema_id = int(body["id"])
            self._ids[key] = schema_id
            self._writers.setdefault(schema_id, schema.parsed)
            return schema_id

    def writer_schema(self, schema_id: int) -> Any:
        cached = self._writers.get(schema_id)
        if cached is not None:
            return cached
        with self._lock:
            try:
                body = self._request("GET", f"/schemas/ids/{schema_id}")
            except RegistryError as exc:
                if "404" in str(exc):
                    raise SchemaIdUnknown(schema_id) from exc
                raise
            parsed = fastavro.parse_schema(json.loads(body["schema"]))
            self._writers[schema_id] = parsed
            return parsed

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        try:
            response = self._client.request(method, self.url + path,
                                            content=None if payload is None else json.dumps(payload))
        except httpx.HTTPError as exc:
            raise RegistryError(f"schema registry {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise RegistryError(f"schema registry {self.url}{path} answered {response.status_code}: "
                                f"{response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpRegistry:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def registry_for(url: str, catalog: Catalog) -> SchemaRegistry:
    return HttpRegistry(url) if url else EmbeddedRegistry(catalog)
