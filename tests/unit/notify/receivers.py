"""Real local receivers for the notifier's tests: an HTTP(S) webhook receiver that keeps
the idempotency keys it processed, and an SMTP server (aiosmtpd) that keeps the
Message-IDs it accepted. Both can be told to fail, hang or refuse, and to come back.

Modes of the webhook receiver (`mode`, changeable at any time):
  ok         process (once per key) and answer 200
  flaky      fail about half the requests, seeded: half of those after processing (the
             receiver did its work but the answer is a 500), half before
  fail       answer 500 without processing
  hang       wait `hang_s` before answering (longer than the notifier's timeout)
  refuse     answer 400 (a final refusal)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import random
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ucwatch.notify.errors import SignatureInvalid
from ucwatch.notify.signature import HEADER, verify


@dataclass
class Tls:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls(folder: Path) -> Tls:
    """A throw-away CA and a certificate for 127.0.0.1 and localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ucwatch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return tls


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class WebhookReceiver:
    secret: bytes
    tls: Tls | None = None
    mode: str = "ok"
    hang_s: float = 3.0
    delay_s: float = 0.0
    """How long each request takes to process (a slow receiver)."""
    seed: int = 1
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Idempotency key -> the body, for every notice processed (once each)."""
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(key, status) -> how many times that answer was given."""
    bad_signatures: int = 0
    key_mismatches: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.server_context().wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/hook"

    def requests_for(self, key: str) -> int:
        with self._lock:
            return sum(n for (k, _), n in self.answers.items() if k == key)

    def successes_for(self, key: str) -> int:
        with self._lock:
            return sum(n for (k, status), n in self.answers.items() if k == key and status == 200)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self.processed)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def handle(self, key: str, header: str, body: bytes) -> int:
        """The receiver's logic; returns the status to answer (after sleeping, in hang mode)."""
        try:
            verify(self.secret, header, body, now=time.time())
        except SignatureInvalid:
            with self._lock:
                self.bad_signatures += 1
            return 401
        document = json.loads(body)
        if document.get("notification_id") != key:
            with self._lock:
                self.key_mismatches += 1
            return 400
        if self.mode == "hang":
            time.sleep(self.hang_s)
            return 503
        if self.delay_s:
            time.sleep(self.delay_s)
        return {"fail": 500, "refuse": 400}.get(self.mode) or self._process(key, document)

    def _process(self, key: str, document: dict[str, Any]) -> int:
        with self._lock:
            roll = self._rng.random() if self.mode == "flaky" else 1.0
            if roll < 0.25:
                return 500  # fails before doing anything
            self.processed.setdefault(key, document)  # the side effect, once per key
        return 500 if roll < 0.5 else 200  # 500: did the work, then failed to say so

    def record(self, key: str, status: int) -> None:
        with self._lock:
            self.answers[(key, status)] += 1


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the SIGKILL tests) is expected, not news; anything
        else is reported as usual."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            super().handle_error(request, client_address)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = self.headers.get("Idempotency-Key", "")
            status = receiver.handle(key, self.headers.get(HEADER, ""), body)
            receiver.record(key, status)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the notifier gave up waiting (hang mode)

    return Handler


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1, optionally requiring STARTTLS; keeps messages by Message-ID.

    `mode`: ok (accept once per Message-ID, answer 250 to repeats), flaky (451 to about
    half the messages, seeded), fail (451 to every message), reject (550 to every message)."""

    def __init__(self, tls: Tls | None = None, seed: int = 1) -> None:
        from aiosmtpd.controller import Controller

        self.mode = "ok"
        self._rng = random.Random(seed)
        self.messages: dict[str, Message] = {}
        self.answers: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs = {"tls_context": tls.server_context(), "require_starttls": True}
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        message = message_from_bytes(envelope.content)
        message_id = str(message.get("Message-ID", ""))
        with self._lock:
            mode = "fail" if self.mode == "flaky" and self._rng.random() < 0.5 else self.mode
            answer = {"fail": "451 4.3.0 try again later", "reject": "550 5.1.1 no such mailbox"}.get(
                mode, "250 OK")
            if answer.startswith("250"):
                self.messages.setdefault(message_id, message)
            self.answers[(message_id, answer[:3])] += 1
        return answer

    def close(self) -> None:
        self._controller.stop()
