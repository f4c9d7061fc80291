"""The HTTP registry client (confluent-kafka's SchemaRegistryClient behind ucwatch's protocol)
against a local stand-in server: TLS and basic authentication pass through, transient
failures are retried, refusals keep the registry's status and error code."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ucwatch.core.errors import RegistryError, SchemaIdUnknown, SettingsError
from ucwatch.core.settings import RegistrySettings, Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry, HttpRegistry, RegistryRefused, registry_for

SCHEMA = default_catalog().latest("CaseClosed")


class _StandIn:
    """Answers each request with the next scripted (status, body); records the headers."""

    def __init__(self, replies: list[tuple[int, dict[str, Any]]], tls: tuple[Path, Path] | None = None) -> None:
        self.replies = replies
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                stand_in.seen.append((self.command, self.path, dict(self.headers)))
                status, body = stand_in.replies.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def stand_ins() -> Iterator[list[_StandIn]]:
    started: list[_StandIn] = []
    yield started
    for server in started:
        server.stop()


def _start(stand_ins: list[_StandIn], *replies: tuple[int, dict[str, Any]],
           tls: tuple[Path, Path] | None = None) -> _StandIn:
    server = _StandIn(list(replies), tls)
    stand_ins.append(server)
    return server


NOT_FOUND = (404, {"error_code": 40403, "message": "Schema 7 not found"})


def test_tls_and_basic_auth_pass_through(stand_ins: list[_StandIn], certificate: tuple[Path, Path]) -> None:
    server = _start(stand_ins, (200, {"id": 7}), NOT_FOUND, tls=certificate)
    settings = RegistrySettings(url=server.url, ca_location=str(certificate[0]),
                                basic_auth_user_info="ucwatch:s3cret", max_retries=0)
    with HttpRegistry(settings) as registry:
        assert registry.id_for("t", SCHEMA) == 7
        with pytest.raises(SchemaIdUnknown):  # known by the registry's error code, not its text
            registry.writer_schema(8)
    expected = "Basic " + base64.b64encode(b"ucwatch:s3cret").decode()
    assert [headers.get("Authorization") for _, _, headers in server.seen] == [expected, expected]
    assert server.seen[0][:2] == ("POST", "/subjects/t-gov.ucwatch.lifecycle.CaseClosed/versions?normalize=False")


def test_an_unknown_certificate_authority_is_refused(stand_ins: list[_StandIn],
                                                      certificate: tuple[Path, Path]) -> None:
    server = _start(stand_ins, (200, {"id": 7}), tls=certificate)
    with HttpRegistry(RegistrySettings(url=server.url, max_retries=0)) as registry, \
            pytest.raises(RegistryError, match="unreachable while registering"):
        registry.id_for("t", SCHEMA)
    assert server.seen == []


def test_transient_failures_are_retried(stand_ins: list[_StandIn]) -> None:
    server = _start(stand_ins, (503, {"error_code": 50301, "message": "busy"}), (200, {"id": 9}))
    with HttpRegistry(RegistrySettings(url=server.url, max_retries=2)) as registry:
        assert registry.id_for("t", SCHEMA) == 9
        assert registry.id_for("t", SCHEMA) == 9  # cached: no third request
    assert len(server.seen) == 2


def test_a_refusal_keeps_the_status_and_error_code(stand_ins: list[_StandIn]) -> None:
    server = _start(stand_ins, (409, {"error_code": 409, "message": "incompatible"}))
    with HttpRegistry(server.url) as registry, pytest.raises(RegistryRefused) as caught:
        registry.id_for("t", SCHEMA)
    assert (caught.value.status, caught.value.error_code, caught.value.subject) == \
           (409, 409, "t-gov.ucwatch.lifecycle.CaseClosed")
    assert "409" in str(caught.value)


def test_an_unreachable_registry_is_a_registry_error(stand_ins: list[_StandIn]) -> None:
    server = _start(stand_ins)
    url = server.url
    server.stop()
    stand_ins.clear()
    with HttpRegistry(RegistrySettings(url=url, max_retries=0, timeout_s=2.0)) as registry, \
            pytest.raises(RegistryError, match="unreachable"):
        registry.writer_schema(5)


def test_the_user_info_can_come_from_a_file_and_no_secret_is_shown(stand_ins: list[_StandIn],
                                                                   tmp_path: Path) -> None:
    secret_file = tmp_path / "registry-user"
    secret_file.write_text("ucwatch:from-a-file\n")
    server = _start(stand_ins, NOT_FOUND)
    with HttpRegistry(RegistrySettings(url=server.url, basic_auth_user_info_file=str(secret_file))) as registry, \
            pytest.raises(SchemaIdUnknown):
        registry.writer_schema(7)
    assert server.seen[0][2]["Authorization"] == "Basic " + base64.b64encode(b"ucwatch:from-a-file").decode()
    shown = json.dumps(Settings(schema_registry=RegistrySettings(
        url="https://registry:8081", basic_auth_user_info="u:p4ss", basic_auth_user_info_file=str(secret_file),
        key_location="/etc/ucwatch/key.pem", key_password="k3y")).redacted())
    assert "k3y" not in shown and "p4ss" not in shown
    assert str(secret_file) in shown and "/etc/ucwatch/key.pem" in shown


def test_settings_the_client_refuses_are_named_as_ucwatch_settings() -> None:
    with pytest.raises(SettingsError, match=r"schema_registry\.certificate_location"):
        HttpRegistry(RegistrySettings(url="https://registry:8081", key_location="/k.pem"))


def test_registry_for_chooses_by_url() -> None:
    assert isinstance(registry_for(RegistrySettings(), default_catalog()), EmbeddedRegistry)
    assert isinstance(registry_for("", default_catalog()), EmbeddedRegistry)
