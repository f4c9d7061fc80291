"""Replaying the same log gives the same alerts, however fast it runs and whatever
happens to the worker: processed live (in batches, with ticks written between them),
replayed as fast as possible, and replayed with a SIGKILL in the middle. Workers run as
under `ucwatch run`: one that leaves with UNDELIVERED (faust stopped committing a
partition: streams/commit_watch.py, seen once in CI after the SIGKILL) is started again,
and the records must still be the same."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.conftest import unique_topics
from tests.integration.detect_support import (
    alert_records,
    notification_records,
    processed_under_supervision,
    start_worker,
    stop_worker,
)
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings, StreamsSettings
from ucwatch.producers.sdk import EventProducer
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.ticks import Ticker

pytestmark = pytest.mark.kafka
AS_OF_MS = int(datetime.fromisoformat("2023-10-01T00:00:00+00:00").timestamp() * 1000)


def _replay_settings(settings: Settings, store: str) -> Settings:
    """Same lifecycle topic, its own outputs and its own consumer group and state."""
    outputs = unique_topics("replay")
    return dataclasses.replace(
        settings, topics=dataclasses.replace(outputs, lifecycle=settings.topics.lifecycle),
        streams=StreamsSettings(app_id=f"replay-{uuid.uuid4().hex[:10]}", store=store))


def _canonical(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)


def _records_on(settings: Settings, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": uuid.uuid4().hex})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(6))
    except KafkaException:  # a new topic's leaders are still being elected
        return 0
    finally:
        consumer.close()


def test_same_log_same_alerts_live_fast_and_killed(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    events = list(Simulation(SimulationConfig(seed=21, children=1000)).events())
    batches = [events[i * len(events) // 4:(i + 1) * len(events) // 4] for i in range(4)]

    # 1. live: the worker runs while batches arrive, with ticks written between them
    _run_live(settings, tmp_path, batches)
    live_alerts = alert_records(settings)
    assert len(live_alerts) > 100, "the history should raise a fair number of alerts"

    # 2. fast: the finished log, replayed at full speed by a fresh group
    fast_settings = _replay_settings(settings, "memory")
    ensure_topics(wait_for_kafka(fast_settings), fast_settings)
    fast = start_worker(fast_settings, tmp_path)
    try:
        fast = processed_under_supervision(fast_settings, fast, tmp_path)
    finally:
        stop_worker(fast)
    assert _canonical(alert_records(fast_settings)) == _canonical(live_alerts)
    assert _canonical(notification_records(fast_settings)) == _canonical(notification_records(settings))

    # 3. killed: SIGKILL while alerts are being written, then a restart (RocksDB store)
    killed_settings = _replay_settings(settings, "rocksdb")
    seen = _replay_killed(killed_settings, tmp_path, kill_at=len(live_alerts) // 10)
    assert seen < len(live_alerts), "the kill should come before all alerts were written"
    killed_alerts = alert_records(killed_settings)
    distinct = sorted(set(_canonical(killed_alerts)))
    assert distinct == _canonical(live_alerts), "no alert lost, none different"
    by_change: dict[tuple[str, int], set[str]] = {}
    for record in killed_alerts:  # a repeat after the crash is the same record, not another change
        by_change.setdefault((record["alert_id"], record["sequence"]), set()).add(json.dumps(record, default=str))
    assert all(len(contents) == 1 for contents in by_change.values())
    print(f"alerts: {len(live_alerts)}; after SIGKILL at {seen}: {len(killed_alerts)} records, "
          f"{len(killed_alerts) - len(distinct)} repeated")


def _run_live(settings: Settings, tmp_path: Path, batches: list[list[dict]]) -> None:
    live = start_worker(settings, tmp_path)
    ticker = Ticker(settings, issued_by="test")
    try:
        with EventProducer(settings) as producer:
            for batch in batches:
                for event in batch:
                    producer.publish(event)
                producer.flush()
                latest = max(int(datetime.fromisoformat(e["recorded_at"]).timestamp() * 1000) for e in batch)
                ticker.tick(latest + 3_600_000)
                time.sleep(1.0)
        ticker.tick(AS_OF_MS)
        live = processed_under_supervision(settings, live, tmp_path)
    finally:
        ticker.close()
        stop_worker(live)


def _replay_killed(settings: Settings, tmp_path: Path, kill_at: int) -> int:
    """A replay SIGKILLed once `kill_at` alerts are on Kafka, then restarted and run to the
    end; returns how many alerts were on Kafka at the kill."""
    ensure_topics(wait_for_kafka(settings), settings)
    worker = start_worker(settings, tmp_path)
    try:
        deadline = time.monotonic() + 180
        while (seen := _records_on(settings, settings.topics.alerts.name)) < kill_at:
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.05)
        stop_worker(worker, kill=True)
        worker = start_worker(settings, tmp_path)
        worker = processed_under_supervision(settings, worker, tmp_path)
    finally:
        stop_worker(worker)
    return seen
