"""Serves the embedded registry over the Confluent Schema Registry REST API (read-only).

So that any Confluent-compatible consumer (confluent-kafka's AvroDeserializer, Kafka
Connect, ClickHouse's Kafka engine) can resolve the ids ucwatch writes without a separate
registry product. Supported: GET /schemas/ids/{id}, GET /subjects,
GET /subjects/{s}/versions, GET /subjects/{s}/versions/{v|latest}, POST /subjects/{s}
(look-up), POST /subjects/{s}/versions (accepted only for a schema already shipped in
schemas/: a new version is added by a reviewed file, not by a client), GET /config.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import fastavro
from fastavro.schema import to_parsing_canonical_form

from ucwatch.schemas.catalog import Catalog, SchemaVersion
from ucwatch.schemas.registry import SubjectNameStrategy, topic_record_subject

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class EmbeddedRegistryServer:
    def __init__(self, catalog: Catalog, topics: list[str], host: str = "127.0.0.1", port: int = 0,
                 subject_name: SubjectNameStrategy = topic_record_subject) -> None:
        self.catalog = catalog
        self.subjects: dict[str, list[SchemaVersion]] = {}
        families = sorted({(v.family, v.name) for v in catalog.all()})
        for topic in topics:
            for family, name in families:
                versions = catalog.versions(name, family)
                self.subjects[subject_name(topic, versions[0])] = versions
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self) -> EmbeddedRegistryServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="registry", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: EmbeddedRegistryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep stderr for errors
            pass

        def do_GET(self) -> None:  # noqa: PLR0911 (one return per route)
            parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
            if parts == ["subjects"]:
                return self._reply(sorted(server.subjects))
            if parts == ["config"]:
                return self._reply({"compatibilityLevel": "BACKWARD"})
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                try:
                    version = server.catalog.by_id(int(parts[2]))
                except Exception:
                    return self._error(HTTPStatus.NOT_FOUND, 40403, "Schema not found")
                return self._reply({"schema": version.text})
            if len(parts) >= 3 and parts[0] == "subjects" and parts[2] == "versions":
                versions = server.subjects.get(parts[1])
                if versions is None:
                    return self._error(HTTPStatus.NOT_FOUND, 40401, "Subject not found")
                if len(parts) == 3:
                    return self._reply([v.version for v in versions])
                wanted = versions[-1] if parts[3] == "latest" else next(
                    (v for v in versions if str(v.version) == parts[3]), None)
                if wanted is None:
                    return self._error(HTTPStatus.NOT_FOUND, 40402, "Version not found")
                return self._reply(_describe(parts[1], wanted))
            return self._error(HTTPStatus.NOT_FOUND, 404, "Not found")

        def do_POST(self) -> None:
            parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
            if len(parts) < 2 or parts[0] != "subjects":
                return self._error(HTTPStatus.NOT_FOUND, 404, "Not found")
            versions = server.subjects.get(parts[1])
            if versions is None:
                return self._error(HTTPStatus.NOT_FOUND, 40401, "Subject not found")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                canonical = to_parsing_canonical_form(fastavro.parse_schema(json.loads(body["schema"])))
            except Exception as exc:
                return self._error(HTTPStatus.UNPROCESSABLE_ENTITY, 42201, f"Invalid schema: {exc}")
            match = next((v for v in versions if v.canonical == canonical), None)
            if match is None:
                return self._error(HTTPStatus.CONFLICT, 409, "The embedded registry is read-only: add the "
                                   "new version under schemas/avro and pass the compatibility test")
            if len(parts) == 3 and parts[2] == "versions":
                return self._reply({"id": match.schema_id})
            return self._reply(_describe(parts[1], match))

        def _reply(self, payload: Any, status: int = HTTPStatus.OK) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: int, message: str) -> None:
            self._reply({"error_code": code, "message": message}, status)

    return Handler


def _describe(subject: str, version: SchemaVersion) -> dict[str, Any]:
    return {"subject": subject, "version": version.version, "id": version.schema_id, "schema": version.text}
