"""The worker consumer's repairs of faust's fetching, on the real broker with a real
aiokafka consumer: a partition with nothing (or 0) committed goes back to its beginning
where aiokafka's seek to the committed offsets leaves it where a dropped fetch left it;
a partition is sought back to its first undelivered record only while nothing else
moved it; and a partition whose position aiokafka does not know yet is told apart, where
reading the position asserts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from ucwatch.core.kafka_admin import wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.streams.rewinding import position_known, rewind_unmoved, seek_to_committed_or_beginning

pytestmark = pytest.mark.kafka
RECORDS = 10


def _topic_of(settings: Settings, suffix: str) -> str:
    name = f"{settings.topics.lifecycle.name}-{suffix}"
    admin = wait_for_kafka(settings)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for n in range(RECORDS):
        producer.produce(name, f"record {n}".encode(), partition=0)
    assert producer.flush(30) == 0
    return name


def _consumer_of_a_fresh_group(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}",
                            enable_auto_commit=False, auto_offset_reset="earliest")


def _with_consumer_at_the_end(settings: Settings, topic: str,
                              scenario: Callable[[AIOKafkaConsumer, TopicPartition], Awaitable[None]]) -> None:
    """Runs `scenario` with a consumer of a fresh group that has read the whole partition
    (its position at the end, nothing committed), as after a fetch faust dropped."""
    async def main() -> None:
        consumer = _consumer_of_a_fresh_group(settings)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            read = 0
            while read < RECORDS:
                read += sum(len(batch) for batch in (await consumer.getmany(timeout_ms=1000)).values())
            assert await consumer.position(tp) == RECORDS
            await scenario(consumer, tp)
        finally:
            await consumer.stop()

    asyncio.run(main())


def test_a_partition_with_nothing_committed_goes_back_to_its_beginning(settings: Settings) -> None:
    topic = _topic_of(settings, "uncommitted")

    async def scenario(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        assert await consumer.seek_to_committed() == {tp: None}
        assert await consumer.position(tp) == RECORDS, "aiokafka's own seek leaves it at the end"
        assert await seek_to_committed_or_beginning(consumer, lambda name: name == topic) == {tp: None}
        assert await consumer.position(tp) == 0

    _with_consumer_at_the_end(settings, topic, scenario)


def test_a_partition_with_0_committed_goes_back_to_0(settings: Settings) -> None:
    topic = _topic_of(settings, "zero")

    async def scenario(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        await consumer.commit({tp: OffsetAndMetadata(0, "")})
        await consumer.seek_to_committed()
        assert await consumer.position(tp) == RECORDS, "aiokafka's own seek skips a committed 0"
        await seek_to_committed_or_beginning(consumer, lambda name: name == topic)
        assert await consumer.position(tp) == 0

    _with_consumer_at_the_end(settings, topic, scenario)


def test_a_committed_offset_is_sought_as_aiokafka_does_and_other_topics_are_left_alone(settings: Settings) -> None:
    topic = _topic_of(settings, "committed")

    async def scenario(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        assert await seek_to_committed_or_beginning(consumer, lambda name: False) == {tp: None}
        assert await consumer.position(tp) == RECORDS, "not a committed topic (a changelog): not moved"
        await consumer.commit({tp: OffsetAndMetadata(6, "")})
        assert await seek_to_committed_or_beginning(consumer, lambda name: name == topic) == {tp: 6}
        assert await consumer.position(tp) == 6

    _with_consumer_at_the_end(settings, topic, scenario)


def test_undelivered_records_are_read_again_from_the_first_of_them(settings: Settings) -> None:
    topic = _topic_of(settings, "rewind")

    async def scenario(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        assert await rewind_unmoved(consumer, {tp: (4, RECORDS)}) == [tp]
        assert await consumer.position(tp) == 4
        again = (await consumer.getmany(tp, timeout_ms=5000))[tp]
        assert [r.offset for r in again] == list(range(4, RECORDS))

    _with_consumer_at_the_end(settings, topic, scenario)


def test_a_partition_moved_since_the_fetch_is_not_rewound(settings: Settings) -> None:
    topic = _topic_of(settings, "moved")

    async def scenario(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        consumer.seek(tp, 2)   # a rebalance's seek to the committed offset, after the fetch
        assert await rewind_unmoved(consumer, {tp: (4, RECORDS)}) == []
        assert await consumer.position(tp) == 2
        gone = TopicPartition(topic, 7)   # no longer assigned
        assert await rewind_unmoved(consumer, {gone: (0, RECORDS)}) == []

    _with_consumer_at_the_end(settings, topic, scenario)


def test_a_partition_awaiting_its_position_is_told_apart_where_aiokafka_asserts(settings: Settings) -> None:
    topic = _topic_of(settings, "position")

    async def main() -> None:
        consumer = _consumer_of_a_fresh_group(settings)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])   # awaiting its reset until the fetcher asks the broker
            assert not position_known(consumer, tp)
            state = consumer._fetcher._subscriptions.subscription.assignment.state_value(tp)
            with pytest.raises(AssertionError):
                _ = state.position   # what faust's livelock detector read, and crashed the worker on
            assert await consumer.position(tp) == 0
            assert position_known(consumer, tp)
            assert not position_known(consumer, TopicPartition(topic, 1))   # not assigned
        finally:
            await consumer.stop()

    asyncio.run(main())
