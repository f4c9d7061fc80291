"""`ucwatch sink`: wait for Kafka and ClickHouse, migrate, serve queries, land records."""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import ExitStack
from typing import Any

from sinks.clickhouse import connect, is_embedded
from sinks.errors import ClickHouseUnavailable
from sinks.migrate import migrate
from sinks.sink import Sink, SinkStats, topic_targets
from ucwatch.errors import TopicMissing
from ucwatch.kafka_admin import wait_for_kafka
from ucwatch.settings import Settings

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
             serve_queries: bool | None = None, stop: threading.Event | None = None) -> SinkStats:
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    check_topics(settings)
    serve = settings.sink.serve_queries if serve_queries is None else serve_queries
    with ExitStack() as cleanup:
        client = connect_writer(settings, stop)
        cleanup.callback(client.close)
        applied = migrate(client, settings)
        if applied:
            log.info("applied migrations: %s", ", ".join(f"V{m.version:03d}__{m.name}" for m in applied))
        if serve and is_embedded(settings.clickhouse_dsn):
            from sinks.query_service import QueryService
            cleanup.enter_context(QueryService(settings))
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
