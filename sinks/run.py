"""`ucwatch sink`: wait for Kafka and ClickHouse, migrate, land records.

Whatever should run beside the sink while it holds the store (the analysts' query service,
when the store is embedded) is handed in by the caller as `alongside`: the sink does not
know its neighbours.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from ucwatch.core.errors import TopicMissing
from ucwatch.core.kafka_admin import wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.errors import ClickHouseUnavailable
from ucwatch.sinks.migrate import migrate
from ucwatch.sinks.sink import Sink, SinkStats, topic_targets

log = logging.getLogger("ucwatch.sink")


def connect_writer(settings: Settings, stop: threading.Event) -> Any:
    """A writer connection, retried with back-off while ClickHouse cannot be reached."""
    delay = 0.5
    while True:
        try:
            return connect(settings, "writer", database="")
        except ClickHouseUnavailable as exc:
            if stop.is_set():
                raise
            log.warning("%s; retrying in %.1f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, settings.sink.retry_max_s)


def check_topics(settings: Settings) -> None:
    admin = wait_for_kafka(settings)
    present = admin.list_topics(timeout=30).topics
    for topic in topic_targets(settings):
        if topic not in present:
            raise TopicMissing(topic, "it does not exist")


def run_sink(settings: Settings, *, until_caught_up: bool = False,
             alongside: Callable[[], AbstractContextManager[object]] | None = None,
             stop: threading.Event | None = None) -> SinkStats:
    """Lands records until stopped (or caught up); `alongside` is entered once migrated."""
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    check_topics(settings)
    with ExitStack() as cleanup:
        client = connect_writer(settings, stop)
        cleanup.callback(client.close)
        applied = migrate(client, settings)
        if applied:
            log.info("applied migrations: %s", ", ".join(f"V{m.version:03d}__{m.name}" for m in applied))
        if alongside is not None:
            cleanup.enter_context(alongside())
        sink = Sink(settings, client, stop=stop)
        started = time.monotonic()
        stats = sink.run(until_caught_up=until_caught_up)
        log.info("landed %s in %.1f s (%d dead-lettered, %d batches written again after a restart)",
                 stats.rows, time.monotonic() - started, stats.dead_lettered, stats.replayed_batches)
        return stats


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
