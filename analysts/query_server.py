"""The loopback service that runs analysts' queries on the embedded store this process holds.

An embedded store can be opened by one process at a time. While `ucwatch sink` holds it,
that process runs a `QueryService`: a small HTTP server on 127.0.0.1 (a free port) in a
background thread, announced by its endpoint file (analysts/endpoint.py); `ucwatch sql`
asks it (analysts/query_client.py, which also describes the answers).

Each request runs on its own connection (chDB keeps session state, and after a failed
multi-statement query even leftover output, per connection), at most `max_concurrent` at
a time, through the guard (analysts/guard.py). Never a traceback: not to the client, and
not on stderr when a client goes away before its answer is written (one debug line).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from clickhouse_connect.driver.client import Client

from ucwatch.analysts.endpoint import HOST, Endpoint, endpoint_path, remove_endpoint, write_endpoint
from ucwatch.analysts.guard import FORMATS, QueryRefused, execute
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect, store_path
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable

log = logging.getLogger("ucwatch.query_service")

CONTENT_TYPES = {"table": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "json": "application/x-ndjson"}
MAX_REQUEST_BYTES = 1 << 20


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
            write_endpoint(self.path, self.endpoint, started_at=time.time())
        except BaseException:
            self.stop()
            raise
        log.info("serving analysts' queries on %s:%d (endpoint %s)", HOST, self.port, self.path)
        return self

    def stop(self) -> None:
        remove_endpoint(self.path, self._token)
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


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the queries being answered
    block_on_close = True
    service: QueryService

    def handle_error(self, request: Any, client_address: Any) -> None:
        failure = sys.exc_info()[1]
        if isinstance(failure, ConnectionError):  # the client went away (broken pipe, reset)
            log.debug("the client at %s went away: %s", client_address[0], failure)
            return
        log.error("the query service failed on a request from %s", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "ucwatch-query-service"
    sys_version = ""
    timeout = 30  # a client that connects and sends nothing does not hold a thread for ever

    def do_POST(self) -> None:
        request = self._request()
        if request is not None:
            self._answer(*request)

    def _request(self) -> tuple[str, str] | None:
        """The query and format of an authorized, well-formed request; else None, answered."""
        if self.path.split("?", 1)[0] not in ("/", "/query"):
            self._reply(404, error="not found; POST /query")
            return None
        if not self.server.service.authorized(self.headers.get("Authorization")):
            self._reply(401, error="a bearer token from the endpoint file is required",
                        headers={"WWW-Authenticate": "Bearer"})
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, error="Content-Length is required")
            return None
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._reply(413, error=f"the request is larger than {MAX_REQUEST_BYTES} bytes")
            return None
        try:
            request = json.loads(self.rfile.read(length))
            query, fmt = request["query"], request.get("format", "table")
            if not isinstance(query, str) or fmt not in FORMATS:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            self._reply(400, error='the body must be {"query": "...", "format": '
                                   f'one of {", ".join(FORMATS)}}}')
            return None
        return query, fmt

    def _answer(self, query: str, fmt: str) -> None:
        service = self.server.service
        try:
            result = service.run(query, fmt)
        except ClickHouseUnavailable as exc:
            self._reply(503, error=str(exc), failure=exc)
            return
        except ClickHouseError as exc:
            service.count_served()
            self._reply(400, error=str(exc), failure=exc,
                        headers={"X-Ucwatch-Refused": "1"} if isinstance(exc, QueryRefused) else None)
            return
        except Exception as exc:  # never a traceback to the client; the sink's log has it
            log.error("the query service failed on a query: %s", type(exc).__name__, exc_info=True)
            self._reply(500, error=f"internal error of the query service ({type(exc).__name__}); "
                                   "see the log of the process serving it")
            return
        service.count_served()
        self._send(200, result, CONTENT_TYPES[fmt])

    def do_GET(self) -> None:
        self._reply(405, error="POST /query", headers={"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _reply(self, status: int, *, error: str, failure: ClickHouseError | None = None,
               headers: dict[str, str] | None = None) -> None:
        document: dict[str, Any] = {"error": error}
        if failure is not None:
            document.update(code=failure.code, name=failure.name)
        self._send(status, json.dumps(document).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except ConnectionError as exc:  # the client went away before its answer
            log.debug("the client at %s went away before its answer (%s)", self.address_string(), exc)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
