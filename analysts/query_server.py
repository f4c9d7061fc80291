"""The service that runs analysts' queries on the embedded store this process holds.

An embedded store can be opened by one process at a time. While `ucwatch sink` holds it,
that process runs a `QueryService`: a small HTTP server on a Unix socket beside the store
(analysts/endpoint.py), in background threads; `ucwatch sql` asks it
(analysts/query_client.py, which also describes the answers).

For each request, in this order:

1. Who: the kernel's credentials of the connected process (analysts/peer.py).
2. A slot: at most ``clickhouse.analyst_max_concurrent_queries`` run at once; a request
   that finds none free within `queue_timeout_s` is answered 503, busy, try again.
3. The audit entry, written by the service with that user as actor, before anything
   runs; if it cannot be written the query is not run (503).
4. The guard (analysts/guard.py) on a connection of its own with the analysts' limits,
   the query's text tagged so that a watcher can find it: when the client goes away
   before the answer, the watcher kills the query (``KILL QUERY``), which stops it.

Never a traceback: not to the client, and not on stderr when a client goes away before
its answer is written (one debug line).
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import socketserver
import stat
import sys
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import KafkaException

from ucwatch.analysts.endpoint import SOCKET_MODE, Endpoint, endpoint_path
from ucwatch.analysts.guard import FORMATS, TAG, QueryRefused, execute
from ucwatch.analysts.peer import Peer, peer_of, query_entry
from ucwatch.core.errors import UcwatchError
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect, store_path
from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, ClickHouseUnavailable

log = logging.getLogger("ucwatch.query_service")

CONTENT_TYPES = {"table": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "json": "application/x-ndjson"}
MAX_REQUEST_BYTES = 1 << 20
WATCH_INTERVAL_S = 0.2

AuditWriter = Callable[[dict[str, Any]], None]
"""Writes one audit entry; raises when it cannot (then the query is not run)."""


class ServiceBusy(ClickHouseUnavailable):
    """Every slot of the query service is taken."""


class NotAudited(ClickHouseUnavailable):
    """The audit entry could not be written, so the query was not run."""


def kafka_audit(settings: Settings) -> AuditWriter:
    from ucwatch.core.audit import write_entry
    return lambda entry: write_entry(settings, entry)


class QueryService:
    """Serves analysts' read-only queries on the embedded store this process holds.

    ``with QueryService(settings):`` or ``start()`` / ``stop()``. Start it after the
    database exists (after migrating). `stop` waits for queries being answered.
    """

    def __init__(self, settings: Settings, *, max_concurrent: int | None = None, queue_timeout_s: float = 5.0,
                 audit: AuditWriter | None = None) -> None:
        self.settings = settings
        self.path = endpoint_path(settings)
        self.max_concurrent = max_concurrent or settings.clickhouse.analyst_max_concurrent_queries
        self.queue_timeout_s = queue_timeout_s
        self.audit = kafka_audit(settings) if audit is None else audit
        self.served = 0
        """Queries answered (with rows or with ClickHouse's refusal)."""
        self.killed = 0
        """Queries killed because their client went away."""
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._keeper: Client | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> Endpoint:
        if self._server is None:
            raise RuntimeError("the query service is not running")
        return Endpoint(str(self.path), os.path.realpath(store_path(self.settings.clickhouse_dsn)))

    def start(self) -> QueryService:
        if self._server is not None:
            return self
        # Opening a connection first proves this process can hold the store (else StoreInUse)
        # and keeps the engine open for as long as the service runs. It is read-only without
        # the analysts' limits: the watcher's KILL runs on it.
        self._keeper = connect(self.settings, "analyst", limited=False)
        try:
            _remove_stale_socket(self.path)  # this process holds the store: no other service runs
            try:
                self._server = _Server(str(self.path), _Handler)
            except OSError as exc:
                raise ClickHouseError(f"the query service cannot listen on {self.path}: {exc.strerror}") from None
            self.path.chmod(SOCKET_MODE)
            self._server.service = self
            self._thread = threading.Thread(target=self._server.serve_forever, name="ucwatch-query-service",
                                            kwargs={"poll_interval": 0.2}, daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        log.info("serving analysts' queries on %s", self.path)
        return self

    def stop(self) -> None:
        server, thread, keeper = self._server, self._thread, self._keeper
        self._server = self._thread = self._keeper = None
        if server is not None:
            if thread is not None and thread.is_alive():
                server.shutdown()
            server.server_close()  # waits for requests being answered
            self.path.unlink(missing_ok=True)
        if thread is not None:
            thread.join()
        if keeper is not None:
            keeper.close()

    def __enter__(self) -> QueryService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, query: str, fmt: str, peer: Peer, gone: Callable[[], bool] = lambda: False) -> bytes:
        """Audits and runs one query for `peer`; `gone` says whether its client went away."""
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise ServiceBusy(f"the query service is busy: {self.max_concurrent} analysts' queries are running "
                              "(clickhouse.analyst_max_concurrent_queries); try again in a moment")
        try:
            try:
                self.audit(query_entry(peer, query, fmt))
            except (UcwatchError, KafkaException) as exc:
                raise NotAudited(f"the query was not run, since the query service could not audit-log it: {exc}",
                                 ) from None
            tag = uuid.uuid4().hex
            done = threading.Event()
            watcher = threading.Thread(target=self._watch, args=(tag, gone, done), name="ucwatch-query-watch",
                                       daemon=True)
            # Connections of its own: after a failed query chDB may leave output behind on one.
            client = connect(self.settings, "analyst")
            inspector = connect(self.settings, "analyst", limited=False)
            watcher.start()
            try:
                return execute(client, query, fmt, inspector=inspector, tag=tag)
            finally:
                done.set()
                watcher.join()
                inspector.close()
                client.close()
        finally:
            self._slots.release()

    def _watch(self, tag: str, gone: Callable[[], bool], done: threading.Event) -> None:
        """Kills the tagged query when its client goes away before it ends."""
        while not done.wait(WATCH_INTERVAL_S):
            if gone():
                self._kill(tag)
                return

    def _kill(self, tag: str) -> None:
        keeper = self._keeper
        if keeper is None:
            return
        prefix = TAG.format(tag).strip()  # a hex tag: nothing to quote
        try:
            keeper.raw_query(f"KILL QUERY WHERE startsWith(query, '{prefix}') ASYNC")
        except FOREIGN_ERRORS as exc:  # the query may have ended meanwhile; max_execution_time still holds
            log.warning("could not stop the query of a client that went away: %s", exc)
            return
        with self._lock:
            self.killed += 1
        log.info("stopped a query whose client went away")

    def count_served(self) -> None:
        with self._lock:
            self.served += 1


def _remove_stale_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def _client_gone(connection: socket.socket) -> bool:
    """Whether the peer closed its end (readable with nothing to read), without reading."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = False  # server_close() waits for the queries being answered
    block_on_close = True
    service: QueryService

    def handle_error(self, request: Any, client_address: Any) -> None:
        failure = sys.exc_info()[1]
        if isinstance(failure, ConnectionError):  # the client went away (broken pipe, reset)
            log.debug("a client went away: %s", failure)
            return
        log.error("the query service failed on a request", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "ucwatch-query-service"
    sys_version = ""
    timeout = 30  # a client that connects and sends nothing does not hold a thread for ever

    def setup(self) -> None:
        super().setup()
        self.peer = peer_of(self.connection)

    def address_string(self) -> str:
        return f"pid {self.peer.pid} ({self.peer.user})"

    def do_POST(self) -> None:
        request = self._request()
        if request is not None:
            self._answer(*request)

    def _request(self) -> tuple[str, str] | None:
        """The query and format of a well-formed request; else None, answered."""
        if self.path.split("?", 1)[0] not in ("/", "/query"):
            self._reply(404, error="not found; POST /query")
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
            result = service.run(query, fmt, self.peer, gone=lambda: _client_gone(self.connection))
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
            log.debug("the client %s went away before its answer (%s)", self.address_string(), exc)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
