"""The HTTP registry path against a real Confluent-compatible registry (Apicurio Registry):
schemas are registered on first use, records carry the registry's ids, both ucwatch and
confluent-kafka decode them, the registry enforces BACKWARD compatibility and an unknown
id is told apart by its error code.

Secured: Apicurio serving HTTPS itself (Quarkus's TLS, a certificate from a test CA), and
HTTP basic authentication. Apicurio 2.4 (the cached build) authenticates only through an
OIDC server (its "basic" mode exchanges the credentials for a Keycloak token), so basic
authentication is checked by a TLS-terminating reverse proxy in front of it, written here,
as a deployment without Keycloak would put one (docs/security.md, the registry).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.conftest import REGISTRY_SCRIPT, _free_port_pair
from tests.helpers import read_topic, sample_event
from tests.unit.test_compat import CASES as COMPAT_CASES
from ucwatch.core.errors import RegistryError, SchemaIdUnknown
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import RegistrySettings, Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.compat import problems
from ucwatch.schemas.registry import HttpRegistry, RegistryRefused, topic_record_subject
from ucwatch.schemas.serde import Decoder
from ucwatch.schemas.wire import split

pytestmark = [pytest.mark.kafka, pytest.mark.registry]


def test_events_round_trip_through_a_real_registry(settings: Settings, confluent_registry_url: str) -> None:
    settings = dataclasses.replace(settings, schema_registry=RegistrySettings(url=confluent_registry_url))
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    sent = [sample_event(t, child=n) for n, t in enumerate(["ChildEncountered", "ReleasedToSponsor",
                                                            "HearingScheduled", "CaseClosed"] * 5)]
    with EventProducer(settings) as producer:
        for event in sent:
            producer.publish(event)

    topic = settings.topics.lifecycle.name
    subject = topic_record_subject(topic, default_catalog().latest("ReleasedToSponsor"))
    records = read_topic(settings.kafka.bootstrap, topic)
    assert len(records) == len(sent)
    with HttpRegistry(confluent_registry_url) as registry, \
            SchemaRegistryClient({"url": confluent_registry_url}) as client:
        assert client.get_versions(subject) == [1]
        registered_id = client.get_version(subject, 1).schema_id
        _compare(records, topic, sent, ours=Decoder(registry, default_catalog()), theirs=AvroDeserializer(client),
                 registered_id=registered_id)


def _compare(records, topic, sent, *, ours, theirs, registered_id) -> None:
    by_id = {e["event_id"]: e for e in sent}
    for record in records:
        decoded = ours.decode(record.value)
        assert decoded == theirs(record.value, SerializationContext(topic, MessageField.VALUE))
        assert decoded["child_id"] == by_id[decoded["event_id"]]["child_id"] == record.key.decode()
        if decoded["event_type"] == "ReleasedToSponsor":
            assert split(record.value)[0] == registered_id


def test_the_registry_refuses_a_backward_incompatible_version(confluent_registry_url: str) -> None:
    with HttpRegistry(confluent_registry_url) as registry:
        _check_compatibility_enforced(registry)


def _check_compatibility_enforced(registry: HttpRegistry) -> None:
    current = default_catalog().latest("NtaServed")
    subject_topic = "compat-check"
    registry.id_for(subject_topic, current)
    subject = topic_record_subject(subject_topic, current)
    assert registry.client.set_compatibility(subject, "BACKWARD") == {"compatibility": "BACKWARD"}

    breaking = copy.deepcopy(current.definition)
    breaking["fields"].append({"name": "served_by", "type": "string"})  # new field, no default
    with pytest.raises(RegistryRefused, match="409") as refused:
        registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, breaking))
    assert (refused.value.status, refused.value.subject) == (409, subject)

    compatible = copy.deepcopy(current.definition)
    compatible["fields"].append({"name": "served_by", "type": ["null", "string"], "default": None})
    new_id = registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, compatible))
    assert json.loads(registry.client.get_schema(new_id).schema_str)["fields"][-1]["name"] == "served_by"


def test_an_id_the_registry_does_not_know(confluent_registry_url: str) -> None:
    with HttpRegistry(confluent_registry_url) as registry, pytest.raises(SchemaIdUnknown):
        registry.writer_schema(987_654_321)


def test_the_registry_and_our_check_agree_on_every_change_of_the_corpus(confluent_registry_url: str) -> None:
    """Our BACKWARD check (Avro's checker after fastavro's parse) against the registry's own
    compatibility endpoint: the same verdict on every case, and both the spec's."""
    verdicts = []
    with HttpRegistry(confluent_registry_url) as registry:
        client = registry.client
        for number, (label, writer, reader, compatible) in enumerate(COMPAT_CASES):
            subject = f"compat-corpus-{uuid.uuid4().hex[:8]}-{number}"
            client.register_schema(subject, Schema(json.dumps(writer), "AVRO"))
            client.set_compatibility(subject, "BACKWARD")
            try:
                theirs = client.test_compatibility(subject, Schema(json.dumps(reader), "AVRO"))
            except SchemaRegistryError as exc:  # 422: the new schema is not valid at all
                assert exc.http_status_code == 422, (label, exc)
                theirs = False
            verdicts.append((label, compatible, theirs, problems(reader, writer) == []))
    assert [v for v in verdicts if not v[1] == v[2] == v[3]] == []


# ----------------------------------------------------------------------------- secured


@dataclasses.dataclass(frozen=True)
class TlsRegistry:
    url: str
    ca: Path
    certificate: Path
    key: Path


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    """Apicurio on HTTPS only, its certificate signed by a CA of the test's own."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test CA")
    folder = tmp_path_factory.mktemp("registry-tls")
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    certificate, key, request = folder / "registry.crt", folder / "registry.key", folder / "registry.csr"
    for command in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test registry CA",
             "-keyout", str(ca_key), "-out", str(ca)],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out",
             str(request)],
            ["x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "2", "-out", str(certificate), "-extfile", str(_san_file(folder))]):
        subprocess.run(["openssl", *command], check=True, capture_output=True)
    env = {**os.environ, "UCWATCH_REGISTRY_PORT": str(_free_port_pair()), "UCWATCH_REGISTRY_TLS_CERT": str(certificate),
           "UCWATCH_REGISTRY_TLS_KEY": str(key), "UCWATCH_REGISTRY_TLS_CA": str(ca)}
    started = subprocess.run(["bash", str(REGISTRY_SCRIPT), "start"], env=env, capture_output=True, text=True,
                             check=False)
    try:
        if started.returncode != 0:
            pytest.fail(f"the HTTPS registry did not start:\n{started.stdout}\n{started.stderr}")
        url = started.stdout.strip().splitlines()[-1]
        assert url.startswith("https://"), url
        yield TlsRegistry(url, ca, certificate, key)
    finally:
        subprocess.run(["bash", str(REGISTRY_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)


def _san_file(folder: Path) -> Path:
    extensions = folder / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    return extensions


class BasicAuthProxy:
    """HTTPS with HTTP basic authentication in front of the registry: a request without
    the right user and password gets 401; any other is forwarded to the registry over
    HTTPS (verified against its CA) and its answer returned as it is."""

    def __init__(self, upstream: TlsRegistry, user: str, password: str) -> None:
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        upstream_origin = upstream.url.split("/apis/")[0]
        upstream_tls = ssl.create_default_context(cafile=str(upstream.ca))
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Authorization") != expected:
                    proxy.refused += 1
                    self._reply(401, {"error_code": 40101, "message": "Unauthorized"}, realm=True)
                    return
                request = urllib.request.Request(upstream_origin + self.path, data=body or None, method=self.command,
                                                 headers={k: v for k, v in self.headers.items()
                                                          if k.lower() in ("content-type", "accept")})
                try:
                    with urllib.request.urlopen(request, context=upstream_tls, timeout=30) as answer:
                        self._raw(answer.status, answer.read(), answer.headers.get("Content-Type"))
                except urllib.error.HTTPError as refused:
                    self._raw(refused.code, refused.read(), refused.headers.get("Content-Type"))

            def _reply(self, status: int, document: dict[str, Any], *, realm: bool = False) -> None:
                self._raw(status, json.dumps(document).encode(), "application/json", realm=realm)

            def _raw(self, status: int, data: bytes, content_type: str | None, *, realm: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/json")
                self.send_header("Content-Length", str(len(data)))
                if realm:
                    self.send_header("WWW-Authenticate", 'Basic realm="registry"')
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(upstream.certificate), str(upstream.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/apis/ccompat/v7"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def auth_proxy(tls_registry: TlsRegistry) -> Iterator[BasicAuthProxy]:
    proxy = BasicAuthProxy(tls_registry, "ucwatch-producer", PROXY_PASSWORD)
    yield proxy
    proxy.stop()


PROXY_PASSWORD = "Registry-Pa55word-4e1c"


def _register_and_fetch(settings: RegistrySettings) -> None:
    """Registers a schema under a new subject through one client, reads it back by id
    through another (no cache shared)."""
    schema = default_catalog().latest("CaseClosed")
    topic = f"secured-{uuid.uuid4().hex[:8]}"
    with HttpRegistry(settings) as writer:
        schema_id = writer.id_for(topic, schema)
    with HttpRegistry(settings) as reader:
        assert reader.writer_schema(schema_id) == schema.parsed
        versions = reader.client.get_versions(topic_record_subject(topic, schema))
    assert versions == [1]


def test_apicurio_over_https_with_the_deployments_ca(tls_registry: TlsRegistry) -> None:
    _register_and_fetch(RegistrySettings(url=tls_registry.url, ca_location=str(tls_registry.ca), max_retries=0))


def test_a_client_that_does_not_trust_the_registrys_ca_is_refused(tls_registry: TlsRegistry) -> None:
    with HttpRegistry(RegistrySettings(url=tls_registry.url, max_retries=0)) as registry, \
            pytest.raises(RegistryError) as refused:
        registry.id_for("untrusted", default_catalog().latest("CaseClosed"))
    message = str(refused.value)
    assert "unreachable" in message and tls_registry.url in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message, message


def test_basic_auth_with_the_right_credentials_registers_and_fetches(auth_proxy: BasicAuthProxy,
                                                                     tls_registry: TlsRegistry) -> None:
    _register_and_fetch(RegistrySettings(url=auth_proxy.url, ca_location=str(tls_registry.ca), max_retries=0,
                                         basic_auth_user_info=f"ucwatch-producer:{PROXY_PASSWORD}"))
    assert auth_proxy.refused == 0


@pytest.mark.parametrize("user_info", ["ucwatch-producer:Wrong-Pa55word-9d2f", ""])
def test_a_wrong_or_missing_password_is_refused_clearly(user_info: str, auth_proxy: BasicAuthProxy,
                                                        tls_registry: TlsRegistry) -> None:
    settings = RegistrySettings(url=auth_proxy.url, ca_location=str(tls_registry.ca), max_retries=0,
                                basic_auth_user_info=user_info)
    with HttpRegistry(settings) as registry, pytest.raises(RegistryRefused) as refused:
        registry.id_for("refused", default_catalog().latest("CaseClosed"))
    assert refused.value.status == 401
    message = str(refused.value)
    assert f"schema registry {auth_proxy.url} refused registering" in message and "HTTP 401" in message, message
    assert "Wrong-Pa55word" not in message and PROXY_PASSWORD not in message
    assert auth_proxy.refused == 1  # refused once, not retried
