"""HTTPS webhook delivery: one POST per attempt, signed, with the notice id as its key.

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <notice id>
    X-Ucwatch-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>
    X-Ucwatch-Attempt: <n>

An answer in 2xx delivers. 408, 409, 425, 429 and 5xx, a timeout or a broken connection
are retried; any other answer (3xx, 4xx) is final: a receiver that refuses a notice, or a
URL that moved, will not change its mind by itself. Certificates are always verified,
against `ca_file` when given. The answer's body is not read.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ucwatch.notify import signature
from ucwatch.notify.delivery import AttemptResult, Endpoint
from ucwatch.notify.ids import idempotency_key
from ucwatch.notify.message import json_body

RETRIED_STATUSES = frozenset({408, 409, 425, 429})
USER_AGENT = "ucwatch-notify/1"


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Verifying context: the system's CAs, or only those of `ca_file`."""
    return ssl.create_default_context(cafile=ca_file or None)


class WebhookSender:
    def __init__(self, endpoint: Endpoint, url: str, secret: bytes, *, timeout_s: float, ca_file: str = "",
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint = endpoint
        self._url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s, verify=tls_context(ca_file), follow_redirects=False,
                                    transport=transport, headers={"User-Agent": USER_AGENT})

    def send(self, notice: Mapping[str, Any], attempt: int) -> AttemptResult:
        body = json_body(notice)
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key(str(notice["notification_id"])),
                   signature.HEADER: signature.sign(self._secret, int(self._clock()), body),
                   "X-Ucwatch-Attempt": str(attempt)}
        try:
            with self._client.stream("POST", self._url, content=body, headers=headers) as response:
                status = response.status_code
                phrase = response.reason_phrase
        except httpx.TimeoutException as exc:
            return AttemptResult.retry(f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return AttemptResult.retry(f"{type(exc).__name__}: {_first_line(exc)}")
        detail = f"HTTP {status} {phrase}".strip()
        if 200 <= status < 300:
            return AttemptResult.ok(status, detail)
        if status >= 500 or status in RETRIED_STATUSES:
            return AttemptResult.retry(detail, status)
        return AttemptResult.refused(detail, status)

    def close(self) -> None:
        self._client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
