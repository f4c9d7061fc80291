"""`ucwatch console`: the feed thread, the outbox and the web server, wired and run.

Start: wait for Kafka, create missing topics (the actions topic is the console's own),
start the feed (it rebuilds the state from the topics), open the metrics port, serve. Stop
(Ctrl-C, SIGTERM): end the live streams first, so the server does not wait for browsers to
hang up, then the server, the feed, the metrics port and the producer (flushed).

Prometheus reads the console's metrics where it reads the other processes': /metrics (with
/healthz and /readyz) on a port of their own, `console.metrics_port` of
`console.metrics_host` (loopback unless set), through `ucwatch.core.health`. The pages'
server, which people reach through a proxy, serves no /metrics.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime
from types import FrameType

import uvicorn

from ucwatch.console.audit_trail import read_audit
from ucwatch.console.context import Console
from ucwatch.console.feed import Feed
from ucwatch.console.history import child_history
from ucwatch.console.outbox import KafkaOutbox
from ucwatch.console.oversight import CachedOversight, oversight_figures
from ucwatch.console.routes import build_app
from ucwatch.console.users import UserStore, users_path
from ucwatch.core.errors import SettingsError
from ucwatch.core.health import serve_health
from ucwatch.core.settings import Settings

log = logging.getLogger("ucwatch.console")
STALL_S = 30.0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, console: Console) -> None:
        super().__init__(config)
        self._console = console

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Ends the live streams, then the server. Unlike uvicorn's own, the signal is not
        raised again once stopped: a stop asked for is a normal end (exit 0, cleanup done)."""
        self._console.broadcaster.close()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for connections
        self.should_exit = True


def build_console(settings: Settings) -> tuple[Console, Feed, KafkaOutbox]:
    """The console over real Kafka; the feed is created, not started."""
    outbox = KafkaOutbox(settings)
    holder: list[Feed] = []

    def live() -> tuple[bool, str]:
        feed = holder[0]
        idle = time.monotonic() - feed.last_turn
        return (feed.alive and idle < STALL_S,
                f"feed thread {'running' if feed.alive else 'stopped'}, last turned {idle:.1f} s ago")

    def ready() -> tuple[bool, str]:
        feed = holder[0]
        if feed.ready.is_set():
            return True, f"{len(console.state.alerts)} alerts read, {feed.skipped} records skipped"
        return False, f"waiting for {feed.waiting_for}"

    console = Console(settings=settings, users=UserStore(users_path(settings)), outbox=outbox,
                      history=lambda child_id: child_history(settings, child_id), live=live, ready=ready,
                      oversight=CachedOversight(lambda: oversight_figures(settings, datetime.now(UTC))),
                      audit=lambda wanted: read_audit(settings, wanted))
    holder.append(Feed(settings, console.state, console.lock, console.broadcaster.publish,
                       children=console.children, metrics=console.metrics))
    return console, holder[0], outbox


def run_console(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
    if not 0 <= settings.console.metrics_port <= 65535:
        raise SettingsError("setting console.metrics_port must be a port number (0: any free port)")
    ensure_topics(wait_for_kafka(settings, before="starting the console"), settings)
    console, feed, outbox = build_console(settings)
    users = console.users.load()  # a malformed or public users file is refused before serving
    host = host or settings.console.host
    port = port if port is not None else settings.console.port
    config = uvicorn.Config(build_app(console), host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=3, server_header=False)
    health = serve_health(console.metrics.registry, console.live, console.ready,  # before anything else runs
                          settings.console.metrics_port, what="console", logger=log,
                          host=settings.console.metrics_host)
    feed.start()
    print(f"ucwatch console at http://{host}:{port}/ ({len(users)} user(s)"
          f"{'; add one with `ucwatch users add NAME --role operator`' if not users else ''}); "
          f"metrics at {health.url}/metrics", flush=True)
    try:
        _Server(config, console).run()
    finally:
        console.broadcaster.close()
        feed.stop()
        health.stop()
        outbox.close()
