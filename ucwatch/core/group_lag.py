"""Consumer lag per partition of a consumer group, as a Prometheus gauge, measured from
outside the consuming loop (a thread and a connection of its own), so it costs that loop
nothing: a worker's faust loop or the sink's poll loop only hand over which partitions they
hold.

Lag = the partition's high watermark minus the group's committed offset (from its low
watermark while nothing is committed): the records this process holds but has not yet
finished. The gauge is labelled (topic, partition); partitions the process no longer holds
are removed from it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

from ucwatch.core.kafka_admin import client_config, kafka_reason
from ucwatch.core.settings import Settings

log = logging.getLogger("ucwatch.lag")
QUIET = logging.getLogger("ucwatch.librdkafka.lag")
QUIET.setLevel(logging.CRITICAL)  # an outage is said once below, not twenty times a second
REQUEST_TIMEOUT_S = 5.0

Held = Callable[[], Iterable[tuple[str, int]]]


class GroupLag:
    def __init__(self, settings: Settings, group_id: str, gauge: Gauge, held: Held, every_s: float = 5.0) -> None:
        self._gauge = gauge
        self._held = held
        self._every_s = every_s
        self._labels: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        # group.id is the group's own, to read its committed offsets; this client never subscribes,
        # so it never joins the group. client.id tells it apart in the broker's logs.
        self._consumer = Consumer({**client_config(settings), "group.id": group_id, "enable.auto.commit": False,
                                   "client.id": f"ucwatch-lag-{uuid.uuid4().hex[:8]}", "logger": QUIET})
        self._thread = threading.Thread(target=self._run, name=f"ucwatch-lag-{group_id}", daemon=True)
        self.positions: dict[tuple[str, int], tuple[int, int]] = {}
        """The last measurement: per partition held, (the group's position, the partition's
        end); empty while Kafka does not answer. Replaced whole, so another thread may read it."""
        self.answering = False
        """Whether Kafka answered the last measurement (False before the first)."""

    def start(self) -> GroupLag:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # else it is still asking Kafka: the process exit ends both
            self._consumer.close()

    def measure(self) -> dict[tuple[str, int], int]:
        """The lag of each partition held now; raises KafkaException when Kafka does not answer."""
        held = [TopicPartition(topic, partition) for topic, partition in sorted(set(self._held()))]
        if not held:
            self.positions = {}
            return {}
        committed = self._consumer.committed(held, timeout=REQUEST_TIMEOUT_S)
        positions = {}
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(tp, timeout=REQUEST_TIMEOUT_S)
            positions[(tp.topic, tp.partition)] = (tp.offset if tp.offset >= 0 else low, high)
        self.positions = positions
        self.answering = True
        return {partition: max(high - position, 0) for partition, (position, high) in positions.items()}

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._every_s):
            try:
                lags = self.measure()
            except KafkaException as exc:
                self.positions = {}
                self.answering = False
                if not failing:
                    log.warning("consumer lag not measured (%s); trying again every %.0f s", kafka_reason(exc),
                                self._every_s)
                failing = True
                continue
            if failing:
                log.info("consumer lag measured again")
            failing = False
            self._publish(lags)

    def _publish(self, lags: dict[tuple[str, int], int]) -> None:
        labels = {(topic, str(partition)) for topic, partition in lags}
        for gone in self._labels - labels:
            self._gauge.remove(*gone)
        self._labels = labels
        for (topic, partition), lag in lags.items():
            self._gauge.labels(topic, str(partition)).set(lag)
