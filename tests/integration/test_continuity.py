"""Telling a lost record from an offset that never held one, on the real broker: inside a
run of records the lookup finds the record faust skipped; a transaction's commit marker
takes an offset no consumer is given; retention removes a log's first records."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from faust.types import TP

from ucwatch.core.kafka_admin import client_config, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.streams.continuity import Gap, skipped_records

pytestmark = pytest.mark.kafka


def _topic(settings: Settings, suffix: str) -> str:
    name = f"{settings.topics.lifecycle.name}-{suffix}"
    admin = wait_for_kafka(settings)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    return name


def _topic_of_ten_records(settings: Settings, suffix: str) -> str:
    topic = _topic(settings, suffix)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for n in range(10):
        producer.produce(topic, f"record {n}".encode(), partition=0)
    assert producer.flush(30) == 0
    return topic


def test_a_record_inside_a_gap_is_found(settings: Settings) -> None:
    topic = _topic_of_ten_records(settings, "plain")
    config, tp = client_config(settings), TP(topic, 0)
    assert skipped_records(config, [Gap(tp, 4, 9)]) == [Gap(tp, 4, 9)]
    assert skipped_records(config, [Gap(tp, 1, 2), Gap(tp, 7, 8)]) == [Gap(tp, 1, 2)]   # the first one found


def test_a_transaction_marker_is_a_gap_with_no_record(settings: Settings) -> None:
    topic = _topic(settings, "transactional")
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "transactional.id": f"t-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for batch in range(2):
        producer.begin_transaction()
        for n in range(3):
            producer.produce(topic, f"batch {batch} record {n}".encode(), partition=0)
        producer.commit_transaction(30)
    config, tp = client_config(settings), TP(topic, 0)
    # offsets 0-2, the first commit marker at 3, then 4-6 and a marker at 7
    assert skipped_records(config, [Gap(tp, 3, 4)]) == []
    assert skipped_records(config, [Gap(tp, 3, 5)]) == [Gap(tp, 3, 5)], "4 is a record"


def test_records_removed_by_retention_are_a_gap_with_no_record(settings: Settings) -> None:
    topic = _topic_of_ten_records(settings, "retention")
    admin = wait_for_kafka(settings)
    for future in admin.delete_records([TopicPartition(topic, 0, 6)]).values():
        future.result(timeout=30)   # what retention does to a log's start
    config, tp = client_config(settings), TP(topic, 0)
    assert skipped_records(config, [Gap(tp, 0, 6)]) == []
    assert skipped_records(config, [Gap(tp, 0, 8)]) == [Gap(tp, 0, 8)], "6 and 7 are still there"
