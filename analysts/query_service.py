"""Analysts' read-only queries: how they run, and the loopback service that runs them for others.

An embedded store can be opened by one process at a time. While `ucwatch sink` holds it,
that process runs a `QueryService`: a small HTTP server on 127.0.0.1 (a free port) in a
background thread. `ucwatch sql` finds it through the endpoint file next to the store
(``<store dir>.query.json``: port, pid and a random bearer token, mode 0600, removed when
the service stops) and sends ``POST /query`` with ``{"query": ..., "format": "table"}``.

Every query, served or run directly, goes through `execute`, on an analyst connection
(``readonly=1``, enforced by ClickHouse). `execute` first has ClickHouse parse the query
(``formatQuerySingleLine``) and refuses what read-only mode lets through although it is
not a read: several statements in one query, ``SYSTEM`` and ``KILL`` statements, and
``INTO OUTFILE`` (which chDB writes from the process holding the store). Everything else
is left to the engine, which answers writes, DDL and setting changes with its READONLY
error.

Each request runs on its own connection (chDB keeps session state, and after a failed
multi-statement query even leftover output, per connection), at most `max_concurrent` at
a time. Responses: 200 with ClickHouse's formatted output; 400 with ClickHouse's message
when it refused the query; 401 without the token; 503 when ClickHouse is unavailable;
never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.exceptions import OperationalError, StreamFailureError

from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import clickhouse_message, connect, is_embedded, store_path
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable

log = logging.getLogger("ucwatch.query_service")

FORMATS = {"table": "PrettyCompactMonoBlock", "csv": "CSVWithNames", "json": "JSONEachRow"}
"""ucwatch's output formats and the ClickHouse formats that produce them."""
CONTENT_TYPES = {"table": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "json": "application/x-ndjson"}
MAX_REQUEST_BYTES = 1 << 20
HOST = "127.0.0.1"

# Statements that return rows: the requested format is appended to them. Others (SET,
# INSERT, DDL...) run as they are, so that ClickHouse answers them with its own error
# rather than a syntax error about the appended FORMAT.
_RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "CHECK"})
_REFUSED_KINDS = {"SYSTEM": "SYSTEM statements act on the engine the sink runs on",
                  "KILL": "KILL statements would stop the sink's own queries"}
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_OWN_FORMAT = re.compile(r"\bFORMAT\s+\w+(\s+SETTINGS\b.*)?\s*$", re.IGNORECASE | re.DOTALL)
_PROBE = "SELECT formatQuerySingleLine({q:String})"


class QueryRefused(ClickHouseError):
    """ucwatch refused an analyst's query that ClickHouse's read-only mode would let through."""


class ServiceUnreachable(ClickHouseUnavailable):
    """No query service answered at the endpoint: the query was not sent."""


# --- running one analyst query ------------------------------------------------------------

def execute(client: Client, query: str, fmt: str) -> bytes:
    """Runs `query` on an analyst `client`, returns ClickHouse's output in format `fmt`.

    Raises `ClickHouseError` with ClickHouse's message when the query is refused (by
    ClickHouse, or by `QueryRefused` for the statements listed in the module doc), and
    `ClickHouseUnavailable` when ClickHouse cannot be reached.
    """
    if fmt not in FORMATS:
        raise ClickHouseError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    normalized = _normalized(client, query)
    bare = _QUOTED.sub("''", normalized)
    match = re.match(r"[\s(]*([A-Za-z]+)", bare)
    kind = match.group(1).upper() if match else ""
    if kind in _REFUSED_KINDS:
        raise QueryRefused(f"analysts' queries are read-only: {_REFUSED_KINDS[kind]}; not run")
    if _INTO_OUTFILE.search(bare):
        raise QueryRefused("analysts' queries are read-only: INTO OUTFILE would write a file from the "
                           "process holding the store; redirect the output of `ucwatch sql` instead; not run")
    try:
        if kind in _RESULT_KINDS and not _OWN_FORMAT.search(bare):
            return client.raw_query(query, fmt=FORMATS[fmt])
        return client.raw_query(query)
    except DriverError as exc:
        raise _translated(exc) from None


def _normalized(client: Client, query: str) -> str:
    """The query as ClickHouse's parser reads it, one statement, comments gone."""
    try:
        text = client.raw_query(_PROBE, parameters={"q": query}, fmt="RawBLOB")
    except DriverError as exc:
        error = _translated(exc)
        if type(error) is ClickHouseError:
            error = ClickHouseError(_without_probe(str(error)))
        raise error from None
    return text.decode("utf-8", "replace").strip()


def _without_probe(message: str) -> str:
    """ClickHouse's parse error about the analyst's query, without the probe wrapped around it."""
    at = message.find(" In scope SELECT formatQuerySingleLine(")
    if at < 0:
        return message
    name = re.search(r"\((\w+)\)\s*$", message)
    return message[:at].rstrip(" :.") + "." + (f" ({name.group(1)})" if name else "")


def _translated(exc: DriverError) -> ClickHouseError:
    message = clickhouse_message(exc)
    if isinstance(exc, OperationalError) and not isinstance(exc, StreamFailureError) \
            and not message.startswith("Code: "):
        return ClickHouseUnavailable(f"ClickHouse cannot be reached: {message}")
    return ClickHouseError(message)


# --- the endpoint file --------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    port: int
    pid: int
    token: str
    store: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/query"


def endpoint_path(settings: Settings) -> Path:
    """Where the service of an embedded store writes its endpoint: next to the store directory."""
    dsn = settings.clickhouse_dsn
    if not is_embedded(dsn):
        raise ClickHouseError("the query service is for an embedded (chdb://) store only")
    return Path(os.path.realpath(store_path(dsn)) + ".query.json")


def read_endpoint(settings: Settings) -> Endpoint | None:
    """The endpoint of a running service for this store, or None (no file, or its process is gone)."""
    path = endpoint_path(settings)
    try:
        info = path.stat()
        text = path.read_text()
    except FileNotFoundError:
        return None
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise ClickHouseUnavailable(
            f"the query service endpoint {path} is not private to this user (owner uid "
            f"{info.st_uid}, mode {stat.S_IMODE(info.st_mode):o}); not using it")
    try:
        data = json.loads(text)
        endpoint = Endpoint(int(data["port"]), int(data["pid"]), str(data["token"]), str(data["store"]))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring the malformed query service endpoint %s", path)
        return None
    return endpoint if _alive(endpoint.pid) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_private(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


# --- asking a service ---------------------------------------------------------------------

def ask(endpoint: Endpoint, query: str, fmt: str, *, timeout_s: float | None = None) -> bytes:
    """Sends one query to a running service; its output, or the error the service reported.

    Raises `ServiceUnreachable` when no service answered (the query was not sent); other
    failures after the query was sent raise `ClickHouseUnavailable` (never retried: it may
    have run).
    """
    timeout = httpx.Timeout(timeout_s, connect=5.0)
    # trust_env=False: no proxy from the environment ever sees the token or the query.
    with httpx.Client(trust_env=False, timeout=timeout) as http:
        try:
            response = http.post(endpoint.url, json={"query": query, "format": fmt},
                                 headers={"Authorization": f"Bearer {endpoint.token}"})
        except httpx.ConnectError as exc:
            raise ServiceUnreachable(f"no query service answered at {endpoint.url} ({exc})") from None
        except httpx.HTTPError as exc:
            raise ClickHouseUnavailable(f"the query service at {endpoint.url} failed: {exc}") from None
    if response.status_code == 200:
        return response.content
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    if response.status_code == 400:
        raise (QueryRefused if response.headers.get("X-Ucwatch-Refused") else ClickHouseError)(message)
    raise ClickHouseUnavailable(f"the query service at {endpoint.url} answered "
                                f"{response.status_code}: {message}")


# --- the service --------------------------------------------------------------------------

class QueryService:
    """Serves analysts' read-only queries on the embedded store this process holds.

    ``with QueryService(settings):`` or ``start()`` / ``stop()``. Start it after the
    database exists (after migrating). `stop` waits for queries being answered.
    """

    def __init__(self, settings: Settings, *, max_concurrent: int = 4, queue_timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.path = endpoint_path(settings)
        self.max_concurrent = max_concurrent
        self.queue_timeout_s = queue_timeout_s
        self.port: int | None = None
        self.served = 0
        """Queries answered (with rows or with ClickHouse's refusal)."""
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._token = ""
        self._keeper: Client | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> Endpoint:
        if self.port is None:
            raise RuntimeError("the query service is not running")
        store = os.path.realpath(store_path(self.settings.clickhouse_dsn))
        return Endpoint(self.port, os.getpid(), self._token, store)

    def start(self) -> QueryService:
        if self._server is not None:
            return self
        # Opening a connection first proves this process can hold the store (else StoreInUse)
        # and keeps the engine open for as long as the service runs.
        self._keeper = connect(self.settings, "analyst")
        try:
            self._token = secrets.token_urlsafe(32)
            self._server = _Server((HOST, 0), _Handler)
            self._server.service = self
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, name="ucwatch-query-service",
                                            kwargs={"poll_interval": 0.2}, daemon=True)
            self._thread.start()
            endpoint = self.endpoint
            _write_private(self.path, {"port": endpoint.port, "pid": endpoint.pid, "token": endpoint.token,
                                       "store": endpoint.store, "started_at": time.time()})
        except BaseException:
            self.stop()
            raise
        log.info("serving analysts' queries on %s:%d (endpoint %s)", HOST, self.port, self.path)
        return self

    def stop(self) -> None:
        self._remove_endpoint()
        server, thread, keeper = self._server, self._thread, self._keeper
        self._server = self._thread = self._keeper = None
        self.port = None
        if server is not None:
            if thread is not None and thread.is_alive():
                server.shutdown()
            server.server_close()  # waits for requests being answered
        if thread is not None:
            thread.join()
        if keeper is not None:
            keeper.close()

    def __enter__(self) -> QueryService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        return bool(self._token) and scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token.encode())

    def run(self, query: str, fmt: str) -> bytes:
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise ClickHouseUnavailable(f"the query service is busy ({self.max_concurrent} queries running); "
                                        "try again later")
        try:
            client = connect(self.settings, "analyst")
            try:
                result = execute(client, query, fmt)
            finally:
                client.close()
        finally:
            self._slots.release()
        return result

    def count_served(self) -> None:
        with self._lock:
            self.served += 1

    def _remove_endpoint(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if self._token and isinstance(data, dict) and data.get("token") == self._token:
            self.path.unlink(missing_ok=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the queries being answered
    block_on_close = True
    service: QueryService


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "ucwatch-query-service"
    sys_version = ""
    timeout = 30  # a client that connects and sends nothing does not hold a thread for ever

    def do_POST(self) -> None:
        service = self.server.service
        if self.path.split("?", 1)[0] not in ("/", "/query"):
            return self._reply(404, error="not found; POST /query")
        if not service.authorized(self.headers.get("Authorization")):
            return self._reply(401, error="a bearer token from the endpoint file is required",
                               headers={"WWW-Authenticate": "Bearer"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._reply(411, error="Content-Length is required")
        if length < 0 or length > MAX_REQUEST_BYTES:
            return self._reply(413, error=f"the request is larger than {MAX_REQUEST_BYTES} bytes")
        try:
            request = json.loads(self.rfile.read(length))
            query, fmt = request["query"], request.get("format", "table")
            if not isinstance(query, str) or fmt not in FORMATS:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._reply(400, error='the body must be {"query": "...", "format": '
                                          f'one of {", ".join(FORMATS)}}}')
        try:
            result = service.run(query, fmt)
        except ClickHouseUnavailable as exc:
            return self._reply(503, error=str(exc))
        except ClickHouseError as exc:
            service.count_served()
            return self._reply(400, error=str(exc),
                               headers={"X-Ucwatch-Refused": "1"} if isinstance(exc, QueryRefused) else None)
        except Exception as exc:  # never a traceback to the client; the sink's log has it
            log.error("the query service failed on a query: %s", type(exc).__name__, exc_info=True)
            return self._reply(500, error=f"internal error of the query service ({type(exc).__name__}); "
                                          "see the log of the process serving it")
        service.count_served()
        self._send(200, result, CONTENT_TYPES[fmt])

    def do_GET(self) -> None:
        self._reply(405, error="POST /query", headers={"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _reply(self, status: int, *, error: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": error}).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
