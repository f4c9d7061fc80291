"""The worker's librdkafka producer on the real broker: records land on the partition
every other ucwatch producer (and aiokafka) picks for their key, a refused record fails
the confirmation with the topic and Kafka's reason, and nothing is reported delivered
that Kafka did not take."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka.admin import NewTopic

from tests.helpers import read_topic
from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.streams.batch_producer import BatchProducer, SendRefused

pytestmark = pytest.mark.kafka


def test_records_go_to_the_murmur2_partition_of_their_key_and_are_confirmed(settings: Settings) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    topic = settings.topics.child_state
    producer = BatchProducer(client_config(settings), settings.kafka.delivery_timeout_ms)
    keys = [f"C-{n:06d}".encode() for n in range(40)]

    async def scenario() -> dict[tuple[str, int], int]:
        for key in keys:
            producer.send(topic.name, key, b"snapshot of " + key)
        return await producer.confirm("snapshot(s)", 30)

    acknowledged = asyncio.run(scenario())
    landed = {r.key: r.partition for r in read_topic(settings.kafka.bootstrap, topic.name)}
    assert landed == {key: (murmur2(key) & 0x7FFFFFFF) % topic.partitions for key in keys}
    per_partition = Counter(landed.values())   # a fresh topic: the last offset is the count less one
    assert acknowledged == {(topic.name, partition): count - 1 for partition, count in per_partition.items()}


def test_a_record_kafka_refuses_fails_the_confirmation_with_its_topic_and_reason(settings: Settings) -> None:
    admin = wait_for_kafka(settings)
    small = f"{settings.topics.alerts.name}-small"
    admin.create_topics([NewTopic(small, num_partitions=1, replication_factor=1,
                                  config={"max.message.bytes": "200"})])[small].result(timeout=30)
    producer = BatchProducer(client_config(settings), settings.kafka.delivery_timeout_ms)

    async def scenario() -> None:
        producer.send(small, b"k", b"fits")
        assert await producer.confirm("state write(s)", 30) == {(small, 0): 0}
        producer.send(small, b"k", os.urandom(500), partition=0)   # random: lz4 cannot shrink it under 200
        with pytest.raises(SendRefused, match=f"state write.*{small}.*MSG_SIZE_TOO_LARGE"):
            await producer.confirm("state write(s)", 30)
        producer.send(small, b"k", b"fits again")
        assert await producer.confirm("state write(s)", 30) == {(small, 0): 1}

    asyncio.run(scenario())
    assert [r.value for r in read_topic(settings.kafka.bootstrap, small)] == [b"fits", b"fits again"]
