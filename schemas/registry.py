"""Where schema ids come from, and the subject-name strategy.

Lifecycle events of every type share one topic (so that a child's events stay in order),
hence the subject of a schema is ``<topic>-<record fullname>`` (Confluent's
TopicRecordNameStrategy), a plain function so other strategies can be passed in.

- `EmbeddedRegistry`: ids are the catalog's stable ids; needs no server. `ucwatch registry
  serve` exposes it over Confluent's REST API so any Confluent consumer can decode.
- `HttpRegistry`: a Confluent-compatible registry (Confluent, Apicurio's ccompat API,
  Karapace) through confluent-kafka's own `SchemaRegistryClient`: TLS (a CA, mutual TLS),
  basic authentication, retries with back-off, several URLs, and caches, all its own.
  Schemas are registered on first use; a refusal keeps the registry's status and error
  code (`RegistryRefused`), and an unknown id is `SchemaIdUnknown` by its error code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

# The HTTP library confluent-kafka chose (httpx2, or httpx on older Pythons): its transport
# errors are what the client raises once its own retries are spent.
from confluent_kafka.schema_registry.common._httpx_compat import httpx as _http
from confluent_kafka.schema_registry.error import SchemaRegistryError

from ucwatch.core.errors import RegistryError, SchemaIdUnknown, SettingsError
from ucwatch.core.settings import RegistrySettings, redact_text
from ucwatch.schemas.catalog import Catalog, SchemaVersion

SubjectNameStrategy = Callable[[str, SchemaVersion], str]
SCHEMA_NOT_FOUND = 40403
"""The Confluent REST API's error code for an unknown schema id."""


def topic_record_subject(topic: str, schema: SchemaVersion) -> str:
    return f"{topic}-{schema.fullname}"


class SchemaRegistry(Protocol):
    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        """The id under which `schema` is known, registering it if needed."""

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema of an id."""


class RegistryRefused(RegistryError):
    """The registry answered with an error (e.g. 409: incompatible with the subject's versions)."""

    def __init__(self, message: str, *, status: int, error_code: int, subject: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.subject = subject


class EmbeddedRegistry:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        return schema.schema_id

    def writer_schema(self, schema_id: int) -> Any:
        return self.catalog.by_id(schema_id).parsed


def client_config(settings: RegistrySettings) -> dict[str, Any]:
    """The SchemaRegistryClient configuration of the settings (holds secrets: never print it)."""
    config: dict[str, Any] = {"url": settings.url, "timeout": settings.timeout_s,
                              "max.retries": settings.max_retries}
    for key, value in (("ssl.ca.location", settings.ca_location),
                       ("ssl.certificate.location", settings.certificate_location),
                       ("ssl.key.location", settings.key_location),
                       ("ssl.key.password", settings.key_password)):
        if value:
            config[key] = value
    user_info = settings.basic_auth_user_info or _read_secret(settings.basic_auth_user_info_file)
    if user_info:
        config["basic.auth.user.info"] = user_info
    return config


def _read_secret(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"schema_registry.basic_auth_user_info_file {path} cannot be read: "
                            f"{exc.strerror}") from None


class HttpRegistry:
    def __init__(self, settings: RegistrySettings | str,
                 subject_name: SubjectNameStrategy = topic_record_subject, *,
                 client: SchemaRegistryClient | None = None) -> None:
        if isinstance(settings, str):
            settings = RegistrySettings(url=settings)
        self.url = redact_text(settings.url)
        self._subject_name = subject_name
        self._client = client or _new_client(settings)
        self._ids: dict[tuple[str, str], int] = {}
        self._writers: dict[int, Any] = {}

    @property
    def client(self) -> SchemaRegistryClient:
        """The underlying client, for what the protocol does not cover (compatibility checks)."""
        return self._client

    def id_for(self, topic: str, schema: SchemaVersion) -> int:
        subject = self._subject_name(topic, schema)
        key = (subject, schema.canonical)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        schema_id = int(self._call(lambda: self._client.register_schema(subject, Schema(schema.text, "AVRO")),
                                   f"registering {subject}", subject))
        self._ids[key] = schema_id
        self._writers.setdefault(schema_id, schema.parsed)
        return schema_id

    def writer_schema(self, schema_id: int) -> Any:
        cached = self._writers.get(schema_id)
        if cached is not None:
            return cached
        try:
            found = self._call(lambda: self._client.get_schema(schema_id), f"reading schema id {schema_id}")
        except RegistryRefused as exc:
            if exc.error_code == SCHEMA_NOT_FOUND:
                raise SchemaIdUnknown(schema_id) from exc
            raise
        try:
            parsed = fastavro.parse_schema(json.loads(found.schema_str or "null"))
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise RegistryError(f"schema id {schema_id} from {self.url} is not a usable Avro schema: {exc}") from exc
        self._writers[schema_id] = parsed
        return parsed

    def _call(self, request: Callable[[], Any], doing: str, subject: str | None = None) -> Any:
        """Runs one client call; its errors become ucwatch's, with what was being done."""
        try:
            return request()
        except SchemaRegistryError as exc:
            raise RegistryRefused(
                f"schema registry {self.url} refused {doing}: {exc.error_message} "
                f"(HTTP {exc.http_status_code}, error {exc.error_code})",
                status=exc.http_status_code, error_code=exc.error_code, subject=subject) from exc
        except _http.HTTPError as exc:
            raise RegistryError(f"schema registry {self.url} unreachable while {doing}: "
                                f"{redact_text(str(exc)) or type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_SETTING_OF_KEY = {"ssl.ca.location": "ca_location", "ssl.certificate.location": "certificate_location",
                   "ssl.key.location": "key_location", "ssl.key.password": "key_password",
                   "basic.auth.user.info": "basic_auth_user_info", "url": "url"}


def _new_client(settings: RegistrySettings) -> SchemaRegistryClient:
    try:
        return SchemaRegistryClient(client_config(settings))
    except (ValueError, TypeError) as exc:  # the client checks its configuration strictly
        message = redact_text(str(exc))
        for key, name in _SETTING_OF_KEY.items():
            message = message.replace(key, f"schema_registry.{name}")
        raise SettingsError(f"schema_registry settings refused: {message}") from None
    except OSError as exc:  # a CA, certificate or key file that cannot be loaded
        raise SettingsError(f"schema_registry TLS files cannot be loaded: {exc}") from None


def registry_for(settings: RegistrySettings | str, catalog: Catalog) -> SchemaRegistry:
    """The registry the settings name: a server by URL, or the embedded one."""
    url = settings if isinstance(settings, str) else settings.url
    return HttpRegistry(settings) if url else EmbeddedRegistry(catalog)
