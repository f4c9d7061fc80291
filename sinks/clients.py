"""The sink's Kafka clients, built by a factory the sink is given (tests give in-memory ones).

- the consumer (group `sink.group_id`): no auto-commit, read_committed, a max.poll.interval
  of a day so that a ClickHouse outage does not cost the partitions, `sink.session_timeout_ms`
  to notice a dead sink, and static membership (`sink.instance_id`) when configured; its
  commit results (`on_commit`) and client-level errors (`on_error`) go to the sink;
- the dead-letter producer: idempotent, acks=all.

librdkafka reports an unreachable broker about twenty times a second; its log lines pass
through `Repeats`, which lets each kind of line through once a minute.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import Consumer, Producer

from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings

MAX_POLL_INTERVAL_MS = 24 * 3600 * 1000
REPEAT_WINDOW_S = 60.0

OnCommit = Callable[[Any, list[Any]], None]
OnError = Callable[[Any], None]


class KafkaClients(Protocol):
    def consumer(self, on_commit: OnCommit, on_error: OnError) -> Any: ...

    def deadletter_producer(self) -> Any: ...


class Repeats(logging.Filter):
    """Passes a log line, then drops lines of the same kind (digits aside) for `window_s`."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = re.sub(r"\d+", "#", record.getMessage())
        now = self._clock()
        if now - self._last.get(kind, -self._window_s) < self._window_s:
            return False
        self._last[kind] = now
        return True


KAFKA_LOG = logging.getLogger("ucwatch.sink.librdkafka")
KAFKA_LOG.addFilter(Repeats())


class ConfluentClients:
    """The real clients, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def consumer(self, on_commit: OnCommit, on_error: OnError) -> Consumer:
        sink = self._settings.sink
        return Consumer({
            **client_config(self._settings), "logger": KAFKA_LOG, "group.id": sink.group_id,
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "enable.partition.eof": True,
            "isolation.level": "read_committed", "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
            "session.timeout.ms": sink.session_timeout_ms, "on_commit": on_commit, "error_cb": on_error,
            **({"group.instance.id": sink.instance_id} if sink.instance_id else {})})

    def deadletter_producer(self) -> Producer:
        return Producer({**client_config(self._settings), "logger": KAFKA_LOG, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 20})
