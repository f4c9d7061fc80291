"""Consumer lag, measured on a thread and a connection of its own.

Asking the broker for a partition's end offset through the notifier's own consumer waits
behind that consumer's pending fetches (measured: 2.6 s once every few turns), which the
delivery loop must not. So the loop hands over its positions (the offset each partition
would commit now) and this thread sets `ucwatch_notify_consumer_lag` every few seconds.
"""

from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

from ucwatch.core.kafka_admin import client_config, kafka_reason
from ucwatch.core.settings import Settings

log = logging.getLogger("ucwatch.notify")


class LagProbe:
    def __init__(self, settings: Settings, gauge: Gauge, every_s: float = 5.0) -> None:
        self._topic = settings.topics.notifications.name
        self._gauge = gauge
        self._every_s = every_s
        self._positions: dict[int, int] = {}
        self._stop = threading.Event()
        self._consumer = Consumer({**client_config(settings), "group.id": f"ucwatch-notify-lag-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False})
        self._thread = threading.Thread(target=self._run, name="ucwatch-notify-lag", daemon=True)
        self._thread.start()

    def update(self, positions: dict[int, int]) -> None:
        self._positions = dict(positions)  # replaced whole: the thread reads one snapshot

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._every_s):
            positions = self._positions
            try:
                highs = {p: self._consumer.get_watermark_offsets(TopicPartition(self._topic, p), timeout=5)[1]
                         for p in positions}
            except KafkaException as exc:
                if not failing:
                    log.warning("consumer lag not measured (%s); trying again", kafka_reason(exc))
                failing = True
                continue
            failing = False
            self._gauge.clear()
            for partition, high in highs.items():
                self._gauge.labels(str(partition)).set(max(high - positions[partition], 0))
