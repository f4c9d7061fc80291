"""The coordinator's writes, on Kafka: delivery-log records, dead letters and alerts.

One idempotent producer (acks=all) for all three, with Java's partitioner (murmur2) so
that an alert keyed by child_id lands on the partition the detector's alerts for that
child use. A log record goes to the log partition of the same number as its notice's
partition (notify/offsets.py relies on it). Each write's callback runs when the broker
has acknowledged it, from `poll` on the caller's thread. A write the broker did not take
(after the producer's own retries, `kafka.delivery_timeout_ms`) is produced again: the
coordinator waits for it, so nothing after it in the commit order happens meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.deadletter import DeadLetter
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.notify.delivery import LogEntry
from ucwatch.schemas.catalog import Catalog
from ucwatch.schemas.registry import SchemaRegistry
from ucwatch.schemas.serde import Encoder

log = logging.getLogger("ucwatch.notify")
RETRY_AFTER_S = 1.0

_Headers = list[tuple[str, str | bytes | None]]
_Write = tuple[str, bytes, bytes | None, int | None, _Headers, Callable[[Any], None]]


class KafkaOutbox:
    def __init__(self, settings: Settings, registry: SchemaRegistry, catalog: Catalog) -> None:
        topics = settings.topics
        self._log_topic, self._alerts_topic, self._dlq_topic = (topics.deliveries.name, topics.alerts.name,
                                                                topics.deadletter.name)
        self._log_schema = catalog.latest("NoticeDelivery", "deliveries")
        self._alert_schema = catalog.latest("AlertChanged", "alerts")
        self._log_encoder = Encoder(registry, self._log_topic)
        self._alert_encoder = Encoder(registry, self._alerts_topic)
        self._producer = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 5, "partitioner": "murmur2_random",
                                   "delivery.timeout.ms": settings.kafka.delivery_timeout_ms})
        self._again: list[tuple[float, _Write]] = []
        self.unacknowledged = 0
        self.failing = False

    # -- the Outbox protocol --------------------------------------------------------------
    def write_log(self, entry: LogEntry, acked: Callable[[int], None]) -> None:
        value = self._log_encoder.encode(self._log_schema, entry.to_record())
        self._produce((self._log_topic, value, entry.child_id.encode(), entry.notice_partition, [],
                       lambda message: acked(message.offset())))

    def write_dead_letter(self, letter: DeadLetter, acked: Callable[[], None]) -> None:
        headers: _Headers = [("ucwatch.dlq.reason", letter.reason_code.encode()),
                   ("ucwatch.dlq.origin", letter.origin.encode("utf-8", "replace"))]
        self._produce((self._dlq_topic, letter.to_json(), letter.key, None, headers, lambda _: acked()))

    def write_alert(self, record: dict[str, Any], acked: Callable[[], None]) -> None:
        value = self._alert_encoder.encode(self._alert_schema, record)
        self._produce((self._alerts_topic, value, str(record["child_id"]).encode(), None, [], lambda _: acked()))

    # -- driving the producer -------------------------------------------------------------
    def poll(self, timeout_s: float = 0.0) -> None:
        """Runs acknowledgement callbacks; produces again what the broker did not take."""
        self._producer.poll(timeout_s)
        now = time.monotonic()
        if self._again and self._again[0][0] <= now:
            again, self._again = self._again, []
            for _, write in again:
                self.unacknowledged -= 1
                self._produce(write)

    def flush(self, timeout_s: float) -> int:
        """Waits for acknowledgements; returns how many writes are still unacknowledged."""
        self._producer.flush(timeout_s)
        return self.unacknowledged

    def _produce(self, write: _Write) -> None:
        topic, value, key, partition, headers, on_ack = write

        def delivered(error: Any, message: Any) -> None:
            if error is None:
                self.unacknowledged -= 1
                if self.failing:
                    self.failing = False
                    log.warning("Kafka acknowledges writes again")
                on_ack(message)
                return
            if not self.failing:
                self.failing = True
                log.warning("Kafka did not acknowledge a write to %s (%s); writing it again, "
                            "nothing is committed past it meanwhile", topic, error.str())
            self._again.append((time.monotonic() + RETRY_AFTER_S, write))

        self.unacknowledged += 1
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=delivered, **extra)
                return
            except BufferError:
                self._producer.poll(0.05)
