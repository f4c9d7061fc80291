"""Reading one partition of the delivery log back, when the notifier takes a partition over.

From the log start stored with the partition's committed offset (notify/offsets.py) to
the end the partition has now; from its beginning when there is no stored start (a first
run, or offsets the broker has expired). A record that is not a NoticeDelivery is
reported and left out: the log is ucwatch's own and has nothing else.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ucwatch.core.errors import ContractError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.retry import Backoff, RetryExhausted, retry
from ucwatch.core.settings import Settings
from ucwatch.notify.delivery import LogEntry
from ucwatch.schemas.serde import Decoder

log = logging.getLogger("ucwatch.notify")
RECORD_NAME = "gov.ucwatch.deliveries.NoticeDelivery"


def read_log(settings: Settings, decoder: Decoder, partition: int, start: int | None,
             timeout_s: float = 120.0) -> tuple[list[tuple[int, LogEntry]], int]:
    """([(log offset, entry)], end offset) of log partition `partition` from `start`."""
    topic = settings.topics.deliveries.name
    consumer = Consumer({**client_config(settings), "group.id": f"ucwatch-notify-log-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        low, high = _watermarks(consumer, TopicPartition(topic, partition))
        begin = low if start is None else max(start, low)
        entries: list[tuple[int, LogEntry]] = []
        if begin >= high:
            return entries, high
        consumer.assign([TopicPartition(topic, partition, begin)])
        position = begin
        deadline = time.monotonic() + timeout_s
        while position < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}]: read to {position} of {high} in {timeout_s} s")
            for message in consumer.consume(1000, 0.5):
                error, offset = message.error(), message.offset()
                if error is not None or offset is None:
                    log.warning("%s[%d]: %s", topic, partition, error.str() if error else "record without offset")
                    continue
                position = offset + 1
                entry = _entry(decoder, message.value())
                if entry is None:
                    log.warning("%s:%d:%d is not a NoticeDelivery record; left out", topic, partition, offset)
                else:
                    entries.append((offset, entry))
        return entries, high
    finally:
        consumer.close()


def _entry(decoder: Decoder, value: bytes | None) -> LogEntry | None:
    if value is None:
        return None
    try:
        name, record = decoder.decode_named(value)
    except ContractError:
        return None
    return LogEntry.from_record(record) if name == RECORD_NAME else None


def _watermarks(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    try:
        offsets: tuple[int, int] = retry(lambda: consumer.get_watermark_offsets(partition, timeout=10),
                                         retry_on=lambda exc: isinstance(exc, KafkaException),
                                         backoff=Backoff(first_s=0.25, max_s=2.0), attempts=20)
    except RetryExhausted as exc:
        raise exc.last from None
    return offsets
