"""Asking the query service of the process that holds the embedded store.

``POST /query`` with ``{"query": ..., "format": "table" | "csv" | "json"}`` over the
service's Unix socket; no token: the service asks the kernel who connected (analysts/peer.py).
The answer is ClickHouse's output (200), or an error document ``{"error": message,
"code": ClickHouse's code, "name": its name}``: 400 a refused query (``X-Ucwatch-Refused:
1`` when ucwatch's guard refused it), 503 ClickHouse unavailable, the service busy, or the
audit entry not written (the query did not run), 500 a failure of the service itself.

Closing the connection (the client killed, Ctrl-C) stops the query in the service.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx

from ucwatch.analysts.endpoint import Endpoint
from ucwatch.analysts.guard import QueryRefused
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable


class ServiceUnreachable(ClickHouseUnavailable):
    """No query service answered at the endpoint: the query was not sent."""


def ask(endpoint: Endpoint, query: str, fmt: str, *, timeout_s: float | None = None) -> bytes:
    """Sends one query to a running service; its output, or the error the service reported.

    Raises `ServiceUnreachable` when no service answered (the query was not sent); other
    failures after the query was sent raise `ClickHouseUnavailable` (never retried: it may
    have run).
    """
    _probe(endpoint)
    timeout = httpx.Timeout(timeout_s, connect=5.0)
    transport = httpx.HTTPTransport(uds=endpoint.socket)
    # trust_env=False: no proxy from the environment ever sees the query.
    with httpx.Client(transport=transport, trust_env=False, timeout=timeout) as http:
        try:
            response = http.post(endpoint.url, json={"query": query, "format": fmt})
        except httpx.ConnectError as exc:
            raise ServiceUnreachable(f"no query service answered at {endpoint.socket} ({exc})") from None
        except httpx.HTTPError as exc:
            raise ClickHouseUnavailable(f"the query service at {endpoint.socket} failed: {exc}") from None
    if response.status_code == 200:
        return response.content
    error = _error_document(response)
    message = str(error.get("error") or f"HTTP {response.status_code}")
    code = error.get("code") if isinstance(error.get("code"), int) else None
    name = error.get("name") if isinstance(error.get("name"), str) else None
    if response.status_code == 400:
        refused = QueryRefused if response.headers.get("X-Ucwatch-Refused") else ClickHouseError
        raise refused(message, code=code, name=name)
    raise ClickHouseUnavailable(f"the query service answered {response.status_code}: {message}",
                                code=code, name=name)


def _probe(endpoint: Endpoint) -> None:
    """Connects once first (httpcore leaves the socket of a refused Unix connection open)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5.0)
        try:
            probe.connect(endpoint.socket)
        except PermissionError:
            raise ClickHouseUnavailable(
                f"this user may not use the query service's socket {endpoint.socket} (permission denied); "
                "see docs/analysts.md, \"Who may query\"") from None
        except OSError as exc:  # refused (a socket left by a killed sink), gone, timed out
            reason = exc.strerror or str(exc)
            raise ServiceUnreachable(f"no query service answered at {endpoint.socket} ({reason})") from None


def _error_document(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
