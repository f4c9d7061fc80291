"""Reading a topic from the beginning to the end it has now, for reports, demos and tests.

The reader takes a client's whole configuration (`kafka_admin.client_config(settings)`:
bootstrap, protocol, SASL principal, CA), so it works on a secured broker as on the local
demo one. It assigns partitions itself and commits nothing; its group id, unless the
configuration gives one, is a throw-away `reader-<uuid>`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from ucwatch.core.errors import KafkaAccessDenied, TopicMissing
from ucwatch.core.retry import Backoff, RetryExhausted, retry

_LEADER_MOVING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                  KafkaError._WAIT_COORD, KafkaError.UNKNOWN_TOPIC_OR_PART}


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes | None]


def _watermarks(consumer: Consumer, partition: TopicPartition, attempts: int = 20) -> tuple[int, int]:
    # Just after a topic is created, or while a broker is loaded, a partition's leader may
    # not be known yet: ask again rather than fail the read.
    def leader_moving(exc: BaseException) -> bool:
        return isinstance(exc, KafkaException) and (
            exc.args[0].retriable() or exc.args[0].code() in _LEADER_MOVING)

    try:
        offsets: tuple[int, int] = retry(lambda: consumer.get_watermark_offsets(partition, timeout=10),
                                         retry_on=leader_moving, attempts=attempts,
                                         backoff=Backoff(first_s=0.25, max_s=0.25))
    except RetryExhausted as exc:
        raise exc.last from None
    return offsets


def read_to_end(client: Mapping[str, Any], topic: str, timeout_s: float = 60.0,
                partitions: list[int] | None = None) -> Iterator[Record]:
    """Every record up to the high watermarks taken at the start, partition by partition
    in offset order within each; raises TimeoutError if they cannot be reached in time.
    `client` is the confluent-kafka configuration (`client_config(settings)`)."""
    consumer = Consumer({"group.id": f"reader-{uuid.uuid4().hex}", **client,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        ends: dict[int, int] = {}
        for partition in topic_partitions(consumer, topic, client) if partitions is None else partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, partition))
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        positions = {p: 0 for p in ends}
        deadline = time.monotonic() + timeout_s
        while any(positions[p] < ends[p] for p in ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: reached {positions} of {ends} in {timeout_s} s")
            for message in consumer.consume(1000, 0.5):
                if message.error():
                    continue
                record = _record(message)
                positions[record.partition] = record.offset + 1
                yield record
    finally:
        consumer.close()


def topic_partitions(consumer: Consumer, topic: str, client: Mapping[str, Any]) -> list[int]:
    """The partition numbers of `topic`; KafkaAccessDenied when this principal may not read
    it (the broker answers "authorization failed", which is not a missing topic), TopicMissing
    when it does not exist."""
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    if metadata.error is None:
        return list(metadata.partitions)
    if metadata.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        raise KafkaAccessDenied(str(client.get("bootstrap.servers", "")), str(client.get("sasl.username", "")),
                                f"no right to read topic {topic}", missing=(f"READ on topic {topic}",))
    raise TopicMissing(topic, metadata.error.str())


def _record(message: Message) -> Record:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message has no topic, partition or offset")
    headers = message.headers() or []
    items = headers.items() if isinstance(headers, dict) else headers
    return Record(topic, partition, offset, message.key(), message.value(),
                  {name: value.encode() if isinstance(value, str) else value for name, value in items})
