"""A group's lag and committed positions as the broker gives them (core/group_lag.py): what
the workers' lag gauge and their stall watch (streams/stall_watch.py) read."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from ucwatch.core.group_lag import GroupLag
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings

pytestmark = pytest.mark.kafka
COORDINATOR_NOT_READY = {KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR,
                         KafkaError.COORDINATOR_NOT_AVAILABLE}


def test_positions_are_the_committed_offset_or_the_start_and_the_end_of_each_partition_held(
        settings: Settings) -> None:
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    topic = settings.topics.lifecycle.name
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for partition, count in ((0, 5), (1, 3)):
        for n in range(count):
            producer.produce(topic, value=b"x", key=str(n).encode(), partition=partition)
    assert producer.flush(30) == 0
    group = f"{settings.streams.app_id}-lag"
    committer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": group})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
                break
            except KafkaException as exc:  # a new broker's group coordinator may still be loading
                if exc.args[0].code() not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        committer.close()

    held = [(topic, 0), (topic, 1)]
    gauge = Gauge("lag", "test", ["topic", "partition"], registry=CollectorRegistry())
    lag = GroupLag(settings, group, gauge, lambda: held)
    try:
        assert not lag.answering, "nothing measured yet"
        assert lag.measure() == {(topic, 0): 3, (topic, 1): 3}
        assert lag.answering
        assert lag.positions == {(topic, 0): (2, 5), (topic, 1): (0, 3)}  # nothing committed: from the start
        held = []
        assert lag.measure() == {} and lag.positions == {}
    finally:
        lag.close()


def test_a_lag_monitor_whose_kafka_does_not_answer_says_so(settings: Settings) -> None:
    """The stall watch reads `answering` so that a broker outage during a table recovery is
    not taken for a stalled recovery (streams/operations.py)."""
    gone = replace(settings, kafka=replace(settings.kafka, bootstrap="127.0.0.1:1"))
    gauge = Gauge("lag", "test", ["topic", "partition"], registry=CollectorRegistry())
    lag = GroupLag(gone, "nobody", gauge, lambda: [(settings.topics.lifecycle.name, 0)], every_s=0.1)
    lag.answering = True   # as after a measurement, before the outage
    lag.start()
    try:
        deadline = time.monotonic() + 30
        while lag.answering and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not lag.answering and lag.positions == {}
    finally:
        lag.close()
