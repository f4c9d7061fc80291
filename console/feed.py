"""The feed: a thread that reads the alerts and actions topics into the console's state.

At start it assigns every partition of both topics from the beginning (no consumer group
offsets: the state is memory, so it is rebuilt from the log each time) and notes the high
watermarks; once it has read up to them it is *ready* (`/readyz`), and from then on each
change is also published to the live streams. Until ready, pages show what is read so
far and say that the console is catching up.

A record that cannot be decoded is logged with its topic, partition and offset, counted
(`skipped`) and passed over: the sink dead-letters the same record, and the console must
not stop showing every other alert because of one.

Topics that do not exist yet are waited for (`ucwatch topics create`, or the first
`ucwatch run`), with the reason shown by `/readyz`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, TopicPartition

from ucwatch.console.actions import Action
from ucwatch.console.children import ChildrenState, Delivery, Notice, Snapshot
from ucwatch.console.fold import AlertChange, ConsoleState
from ucwatch.console.metrics import ConsoleMetrics
from ucwatch.core.errors import ContractError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder

log = logging.getLogger("ucwatch.console")

Publish = Callable[[dict[str, Any]], None]
TOPIC_WAIT_S = 2.0
LAG_EVERY_S = 5.0


class Feed:
    def __init__(self, settings: Settings, state: ConsoleState, lock: threading.Lock, publish: Publish, *,
                 children: ChildrenState | None = None, metrics: ConsoleMetrics | None = None) -> None:
        self._settings = settings
        self._state = state
        self._lock = lock
        self._publish = publish
        self._children = children if children is not None else ChildrenState()
        self._metrics = metrics
        topics = settings.topics
        self._alerts = topics.alerts.name
        self._actions = topics.actions.name
        self._child_state = topics.child_state.name
        self._notifications = topics.notifications.name
        self._deliveries = topics.deliveries.name
        self._topics = (self._alerts, self._actions, self._child_state, self._notifications, self._deliveries)
        self.last_record_ms: int | None = None
        if metrics is not None:
            metrics.record_age.set_function(self._record_age)
        self._decoder = Decoder(registry_for(settings.schema_registry, default_catalog()), default_catalog())
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.waiting_for = "starting"
        self.skipped = 0
        self.last_turn = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="ucwatch-console-feed", daemon=True)

    def start(self) -> Feed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        consumer = Consumer({**client_config(self._settings), "group.id": f"ucwatch-console-{uuid.uuid4().hex}",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            ends = self._assign(consumer)
            next_lag = 0.0
            while not self._stop.is_set():
                self.last_turn = time.monotonic()
                for message in consumer.consume(500, 0.5):
                    self._take(message, ends)
                if not self.ready.is_set() and not ends and not self._stop.is_set():
                    self.waiting_for = ""
                    self.ready.set()
                    if self._metrics is not None:
                        self._metrics.ready.set(1)
                    log.info("console state rebuilt: %d alerts", len(self._state.alerts))
                if self._metrics is not None and self.last_turn >= next_lag:
                    next_lag = self.last_turn + LAG_EVERY_S
                    self._measure_lag(consumer)
        except Exception:
            log.exception("the console's feed stopped")  # /healthz turns 503: the thread is gone
            raise
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        """Assigns every topic from its start once they exist; the end offsets still to reach."""
        while True:
            topics = consumer.list_topics(timeout=10).topics
            missing = [t for t in self._topics if t not in topics or topics[t].error is not None]
            if not missing:
                break
            self.waiting_for = f"topic(s) {', '.join(missing)} to exist (`ucwatch topics create`)"
            if self._stop.wait(TOPIC_WAIT_S):
                return {}
        assignment, ends = [], {}
        for topic in self._topics:
            for partition in topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                assignment.append(TopicPartition(topic, partition, low))
                if high > low:
                    ends[(topic, partition)] = high
        self.waiting_for = f"reading {', '.join(self._topics)}"
        consumer.assign(assignment)
        return ends

    def _measure_lag(self, consumer: Consumer) -> None:
        assert self._metrics is not None
        lag: dict[str, int] = dict.fromkeys(self._topics, 0)
        for tp in consumer.position(consumer.assignment()):
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0 and tp.offset >= 0:
                lag[tp.topic] += max(0, high - tp.offset)
        for topic, records in lag.items():
            self._metrics.feed_lag.labels(topic).set(records)

    def _record_age(self) -> float:
        if self.last_record_ms is None:
            return 0.0
        return max(0.0, time.time() - self.last_record_ms / 1000)

    def _take(self, message: Message, ends: dict[tuple[str, int], int]) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log.debug("consumer: %s", error.str())
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        value = message.value()
        kind, stamp = message.timestamp()
        arrived = None
        if kind != TIMESTAMP_NOT_AVAILABLE and stamp > 0:
            self.last_record_ms = stamp
            arrived = datetime.fromtimestamp(stamp / 1000, UTC)
        if value is not None and topic is not None:
            try:
                self._apply(topic, value, arrived)
            except (ContractError, KeyError, ValueError, TypeError) as exc:
                self.skipped += 1
                if self._metrics is not None:
                    self._metrics.skipped.inc()
                log.warning("console: skipped the record at %s[%s]@%s: %s", topic, partition, offset, exc)
        key = (topic or "", partition if partition is not None else -1)
        if key in ends and offset is not None and offset + 1 >= ends[key]:
            del ends[key]

    def _apply(self, topic: str, value: bytes, arrived: datetime | None) -> None:
        record = self._decoder.decode(value)
        if topic in (self._child_state, self._notifications, self._deliveries):
            with self._lock:
                if topic == self._child_state:
                    self._children.apply_snapshot(record["child_id"], Snapshot.from_record(record))
                elif topic == self._notifications:
                    self._children.apply_notice(Notice.from_record(record))
                else:
                    self._children.apply_delivery(Delivery.from_record(record))
            return
        if topic == self._alerts:
            change = AlertChange.from_record(record, arrived)
            with self._lock:
                new = self._state.apply_alert(change)
            if new and self.ready.is_set():
                self._publish({"kind": "alert", "alert_id": change.alert_id, "child_id": change.child_id,
                               "change": change.change, "severity": change.severity, "rule": change.rule})
        elif topic == self._actions:
            action = Action.from_record(record)
            with self._lock:
                new = self._state.apply_action(action)
            if new and self.ready.is_set():
                self._publish({"kind": "action", "alert_id": action.alert_id, "action": action.action.value})
