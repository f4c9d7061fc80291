"""The worker's sends, through librdkafka: a batch's outputs and changelog records are
queued without a Python-level future per record, and `confirm` waits, off the event loop,
until Kafka acknowledged every record queued so far.

Why not faust's producer (aiokafka, pure Python): it built a `FutureMessage`, a batch
entry and an acknowledgement callback in Python for every record, about 500 µs of CPU per
processed event in the worker, most of the worker's time (docs/detect.md, "Performance").
faust still consumes, keeps the group, restores the table and commits; only the
sending moved.

Records keep the partition every other ucwatch producer gives them (Java's murmur2, as
aiokafka does), the broker's acknowledgement from all in-sync replicas, and idempotence,
so a retried request does not write a record twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger(__name__)
BUFFER_FULL_WAIT_S = 0.1


Acknowledged = dict[tuple[str, int], int]
"""(topic, partition) -> the offset of the last record Kafka acknowledged there"""


class SendRefused(Exception):
    """Kafka refused a record of the batch (or the producer could not deliver it)."""

    def __init__(self, what: str, error: KafkaError, topic: str) -> None:
        super().__init__(f"{what}: Kafka refused a record for {topic}: {error.str()} ({error.name()})")
        self.error = error
        self.topic = topic


class BatchProducer:
    """One producer for a worker's outputs and state writes; not for several event loops."""

    def __init__(self, config: dict[str, Any], delivery_timeout_ms: int) -> None:
        self._producer = Producer({
            **config,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            # A child's state row carries its whole history (1.3 kB on average in the 296k
            # replay, longer nationally) and most of it repeats field names and event types:
            # compressed in librdkafka's threads, off the event loop, the broker and the
            # changelog's readers handle a fraction of the bytes. The agencies' producers
            # use lz4 too, so every reader of ucwatch's topics already reads it.
            "compression.type": "lz4",
            "delivery.timeout.ms": delivery_timeout_ms,
        })
        self._queued = 0
        self._acknowledged: Acknowledged = {}
        self._refused: list[tuple[KafkaError, str]] = []

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Queues a record; its fate is known at the next `confirm`."""
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                else:
                    self._producer.produce(topic, value, key, partition, on_delivery=self._on_delivery)
                break
            except BufferError:  # librdkafka's queue is full: let it drain a little
                self._producer.poll(BUFFER_FULL_WAIT_S)
        self._queued += 1

    async def confirm(self, what: str, timeout_s: float) -> Acknowledged:
        """Waits until every record queued so far is acknowledged; returns the last offset
        of those records per partition. Raises SendRefused for the first refusal,
        TimeoutError if some are still unanswered."""
        if self._queued == 0:
            return {}
        queued, self._queued = self._queued, 0
        # flush blocks in C with the GIL released, so faust's loop keeps fetching meanwhile
        left = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, timeout_s)
        acknowledged, self._acknowledged = self._acknowledged, {}
        refused, self._refused = self._refused, []
        if refused:
            error, topic = refused[0]
            raise SendRefused(what, error, topic)
        if left:
            raise TimeoutError(f"{left} of {queued} {what} not acknowledged by Kafka within {timeout_s:.0f} s")
        return acknowledged

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        # called once per record, so it keeps no object per record; librdkafka reports a
        # partition's records in their order, so the last report has the highest offset
        if error is None:
            self._acknowledged[(message.topic(), message.partition())] = message.offset()  # type: ignore[index,assignment]
        else:
            self._refused.append((error, message.topic() or "?"))
