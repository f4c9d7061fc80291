"""How far the detection workers are: their committed offsets against the topic's end."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings, TopicSettings


def committed_records(consumer: Consumer, topic: TopicSettings) -> int | None:
    """Records `consumer`'s group has committed on `topic`, summed over its partitions;
    None while the group coordinator is still loading or moving."""
    partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
    try:
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
    except KafkaException:
        return None


def remaining(settings: Settings) -> int | None:
    """Lifecycle records not yet committed by the workers' group; None while unknown."""
    topic = settings.topics.lifecycle.name
    consumer = Consumer({**client_config(settings), "group.id": settings.streams.app_id,
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topics.lifecycle.partitions)]
        try:
            committed = consumer.committed(partitions, timeout=10)
            ends = [consumer.get_watermark_offsets(tp, timeout=10) for tp in committed]
        except KafkaException:  # the group coordinator or a leader is still moving
            return None
        return sum(high - (tp.offset if tp.offset >= 0 else low)
                   for tp, (low, high) in zip(committed, ends, strict=True))
    finally:
        consumer.close()


def wait_until_caught_up(settings: Settings, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Returns once every lifecycle record is committed; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    while (left := remaining(settings)) != 0:
        if not alive():
            raise RuntimeError("the detection worker exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"detection still has {left} record(s) to process after {timeout_s} s")
        time.sleep(0.5)
    time.sleep(2.0)  # what was sent before the last commit reaches the output topics
