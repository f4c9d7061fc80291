"""A group catching up is shown from outside its loop: committed records of those on the topic."""

from __future__ import annotations

import io
import logging
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.progress import GroupProgress, group_position
from ucwatch.core.settings import KafkaSettings, Settings

pytestmark = pytest.mark.kafka


def test_progress_follows_the_groups_commits(settings: Settings) -> None:
    topic = settings.topics.lifecycle
    ensure_topics(wait_for_kafka(settings), settings, [topic])
    producer = Producer(client_config(settings))
    for i in range(60):
        producer.produce(topic.name, b"x", key=str(i).encode(), partition=i % topic.partitions)
    producer.flush(30)
    committer = Consumer({**client_config(settings), "group.id": "g-progress", "enable.auto.commit": False})
    try:
        committer.commit(offsets=[TopicPartition(topic.name, 0, 4)], asynchronous=False)
        assert group_position(settings, "g-progress", [topic]) == (4, 60)
        shown = io.StringIO()
        with GroupProgress(settings, "g-progress", [topic], "landing", interval_s=0.2, every_s=0.0,
                           stream=shown):
            time.sleep(1.0)
            committer.commit(offsets=[TopicPartition(topic.name, p, 10) for p in range(topic.partitions)],
                             asynchronous=False)
            deadline = time.monotonic() + 20
            while "landing: 56 of 56 records" not in shown.getvalue():
                assert time.monotonic() < deadline, shown.getvalue()
                time.sleep(0.2)
        assert shown.getvalue().splitlines()[0].startswith("landing: 0 of 56 records")
    finally:
        committer.close()


def test_a_look_at_an_unreachable_group_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """`ucwatch run` looks every 2 s: during a broker outage that must not flood the log."""
    settings = Settings(kafka=KafkaSettings(bootstrap="127.0.0.1:1"))
    with caplog.at_level(logging.DEBUG):
        assert group_position(settings, "g", [settings.topics.lifecycle]) is None
    assert [r for r in caplog.records if r.name.startswith("ucwatch") and r.levelno >= logging.WARNING] == []
