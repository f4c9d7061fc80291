"""`ucwatch sink`: wait for Kafka and ClickHouse, migrate, land records.

SIGTERM and SIGINT set the stop event, which every wait of the sink watches: waiting for
Kafka or ClickHouse at start, retrying an unreachable ClickHouse, the last writes. So the
process stops within seconds in any state, with one line saying what it was waiting for.

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

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ucwatch.core.errors import KafkaUnavailable, SettingsError, TopicMissing
from ucwatch.core.group_lag import GroupLag
from ucwatch.core.health import serve_health
from ucwatch.core.kafka_admin import client_config, kafka_reason
from ucwatch.core.retry import Backoff, RetryExhausted, retry
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.clients import KAFKA_LOG, ConfluentClients
from ucwatch.sinks.conditions import Condition
from ucwatch.sinks.migrate import migrate
from ucwatch.sinks.retrying import waited_for, while_unavailable
from ucwatch.sinks.rows import topic_targets
from ucwatch.sinks.sink import Sink, SinkStats
from ucwatch.sinks.writer import BatchWriter

log = logging.getLogger("ucwatch.sink")

METADATA_TIMEOUT_S = 2.0
"""One attempt to reach Kafka at start; also how long a SIGTERM may wait for it to end."""


def connect_writer(settings: Settings, stop: threading.Event) -> Any:
    """A writer connection, retried with back-off while ClickHouse cannot be reached."""
    return while_unavailable(lambda: connect(settings, "writer", database=""), stop=stop,
                             max_delay_s=settings.sink.retry_max_s, condition=Condition("ClickHouse", log),
                             consequence="waiting for it")


def check_topics(settings: Settings, stop: threading.Event) -> None:
    """Waits for Kafka (up to `kafka.connect_timeout_s`, or until stopped), then checks that
    the landed topics exist."""
    config: dict[str, Any] = {**client_config(settings), "logger": KAFKA_LOG}
    admin = AdminClient(config)
    condition = Condition(f"Kafka at {settings.kafka.bootstrap}", log)
    try:
        present = retry(lambda: admin.list_topics(timeout=METADATA_TIMEOUT_S).topics,
                        retry_on=lambda exc: isinstance(exc, KafkaException),
                        backoff=Backoff(first_s=0.5, max_s=5.0), deadline_s=settings.kafka.connect_timeout_s,
                        stop=stop, on_retry=lambda attempt, exc, delay: condition.failing(
                            f"Kafka at {settings.kafka.bootstrap} cannot be reached ({kafka_reason(exc)})",
                            "waiting for it"))
    except RetryExhausted as exc:
        if stop.is_set():
            raise
        raise KafkaUnavailable(settings.kafka.bootstrap, exc.attempts, kafka_reason(exc.last)) from None
    condition.cleared()
    for topic in topic_targets(settings):
        if topic not in present:
            raise TopicMissing(topic, "it does not exist")


def run_sink(settings: Settings, *, until_caught_up: bool = False,
             alongside: Callable[[], AbstractContextManager[object]] | None = None,
             stop: threading.Event | None = None) -> SinkStats:
    """Lands records until stopped (or caught up); `alongside` is entered once migrated."""
    stop = stop or threading.Event()
    if not 0 <= settings.sink.metrics_port <= 65535:
        raise SettingsError("setting sink.metrics_port must be a port number (0: any free port)")
    _stop_on_signals(stop)
    try:
        check_topics(settings, stop)
        with ExitStack() as cleanup:
            client = connect_writer(settings, stop)
            cleanup.callback(client.close)
            applied = migrate(client, settings)
            if applied:
                log.info("applied migrations: %s", ", ".join(f"V{m.version:03d}__{m.name}" for m in applied))
            if alongside is not None:
                cleanup.enter_context(alongside())
            writer = BatchWriter(client, settings.clickhouse.database,
                                 {t.table: t for t in topic_targets(settings).values()})
            sink = Sink(settings, writer, ConfluentClients(settings), stop=stop)
            _serve_metrics(settings, sink, cleanup)
            started = time.monotonic()
            stats = sink.run(until_caught_up=until_caught_up)
            log.info("landed %s in %.1f s (%d dead-lettered, %d batches written again after a restart)",
                     stats.rows, time.monotonic() - started, stats.dead_lettered, stats.replayed_batches)
            return stats
    except RetryExhausted as exc:
        log.warning("stopped while waiting for %s", waited_for(exc))
        return SinkStats()


def _serve_metrics(settings: Settings, sink: Sink, cleanup: ExitStack) -> None:
    """/metrics, /healthz, /readyz (sinks/metrics.py) and the consumer lag, until the sink ends."""
    metrics = sink.metrics
    lag = GroupLag(settings, settings.sink.group_id, metrics.consumer_lag, lambda: sink.held).start()
    cleanup.callback(lag.close)
    server = serve_health(metrics.registry, metrics.heartbeat.check, sink.ready, settings.sink.metrics_port,
                          what="sink", logger=log, host=settings.sink.metrics_host)
    cleanup.callback(server.stop)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
