"""/metrics, /healthz and /readyz of a long-running process (worker, sink, notifier), on
a port of loopback (or of the host given: 0.0.0.0 in a pod, for Prometheus).

/healthz answers 200 while the main loop keeps turning (503 once it has not for
`stall_s`); /readyz answers 200 once the process does its job (the notifier: it has
partitions and has read their delivery log; a worker: partitions assigned and its table
recovered; the sink: partitions assigned, ClickHouse answering), 503 with the reason
otherwise. The console serves the same three paths from its own web server (console/web.py).

`serve_health` binds the configured port, or any free one when it is taken (several
workers of `ucwatch run` on one host share one settings file): the address is logged.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], tuple[bool, str]]
log = logging.getLogger("ucwatch.health")


class Heartbeat:
    def __init__(self, stall_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_s = stall_s
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def check(self) -> tuple[bool, str]:
        idle = self._clock() - self._last
        return (idle < self._stall_s, f"main loop last turned {idle:.1f} s ago")


class HealthServer:
    def __init__(self, registry: CollectorRegistry, live: Check, ready: Check, port: int,
                 host: str = "127.0.0.1") -> None:
        self._httpd = ThreadingHTTPServer((host, port), _handler(registry, live, ready))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ucwatch-health", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(registry: CollectorRegistry, live: Check, ready: Check) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is not news

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = (live if path == "/healthz" else ready)()
                self._reply(200 if ok else 503, f"{'ok' if ok else 'not ok'}: {why}\n".encode(), "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve_health(registry: CollectorRegistry, live: Check, ready: Check, port: int, *, what: str,
                 logger: logging.Logger = log, host: str = "127.0.0.1") -> HealthServer:
    """A started HealthServer on `port` (0: any free port), or on any free port with a warning
    when `port` is taken; its address is logged (on `logger`) either way."""
    try:
        server = HealthServer(registry, live, ready, port, host)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise
        server = HealthServer(registry, live, ready, 0, host)
        logger.warning("%s: port %d is taken (another process of this host?); metrics and health at %s instead",
                    what, port, server.url)
    else:
        logger.info("%s: metrics and health at %s", what, server.url)
    return server.start()
