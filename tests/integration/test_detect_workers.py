"""Several workers in one group give exactly one worker's records: two workers sharing the
partitions, and two workers with one SIGKILLed mid-way, or early, before anything was
committed, and restarted (its partitions come back to it, or move to the other and back:
a rebalance in the middle of a replay).

"Exactly" as fault_compare.differences reads it: the same (alert id, sequence) and
notification ids as the one-worker run, each with the same content, none with two
contents; a repeat of the same record after the kill is allowed (at-least-once)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.detect_support import SupervisedWorkers
from tests.integration.fault_compare import Outputs, differences
from tests.integration.fault_support import clean_run, replay_settings, topic_ends
from tests.integration.test_detect_replay import AS_OF_MS
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.ticks import Ticker

pytestmark = pytest.mark.kafka
TIMEOUT_S = 600  # generous: the shared 2-core machine runs other suites at the same time


def _publish_history(settings: Settings) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    with EventProducer(settings) as producer:
        for event in Simulation(SimulationConfig(seed=33, children=500)).events():
            producer.publish(event)
        producer.flush()
    ticker = Ticker(settings, issued_by="test")
    try:
        ticker.tick(AS_OF_MS)
    finally:
        ticker.close()


def _alerts_on_kafka(settings: Settings) -> int:
    ends = topic_ends(settings.kafka.bootstrap, [settings.topics.alerts])
    return sum(ends.values()) if ends else 0


def _two_workers(settings: Settings, log_dir: Path, kill_after_alerts: int | None) -> Outputs:
    """Two workers of one group over the lifecycle topic, to the end, kept running as
    `ucwatch run` keeps them; with `kill_after_alerts`, the second is SIGKILLed once that
    many alerts are on Kafka, and started again."""
    ensure_topics(wait_for_kafka(settings), settings)
    workers = SupervisedWorkers(settings, log_dir, ["w0", "w1"])
    try:
        if kill_after_alerts is not None:
            deadline = time.monotonic() + TIMEOUT_S
            while _alerts_on_kafka(settings) < kill_after_alerts:
                assert time.monotonic() < deadline, "the workers wrote too few alerts in time"
                assert workers.alive(), "a worker exited"
                time.sleep(0.05)
            workers.kill("w1")
        workers.wait_until_caught_up(TIMEOUT_S)
    finally:
        workers.stop()
    if workers.restarts:
        print(f"restarted after leaving with UNDELIVERED: {workers.restarts}")
    return Outputs.read(settings)


def test_two_workers_and_a_killed_one_give_one_workers_records(settings: Settings, tmp_path: Path) -> None:
    _publish_history(settings)
    reference = clean_run(replay_settings(settings), tmp_path, TIMEOUT_S)
    assert len(reference.alerts) > 200 and reference.notifications, "the history should raise alerts and notices"

    shared = _two_workers(replay_settings(settings), tmp_path, kill_after_alerts=None)
    assert differences(shared, reference) == []

    killed = _two_workers(replay_settings(settings), tmp_path, kill_after_alerts=len(reference.alerts) // 4)
    assert differences(killed, reference) == []

    # killed before the group's first commit: the restarted worker and the one joining fetch
    # partitions with nothing committed while their tables recover (streams/rewinding.py:
    # faust dropped those records, and both workers stood still at offset 0)
    killed_early = _two_workers(replay_settings(settings), tmp_path, kill_after_alerts=len(reference.alerts) // 12)
    assert differences(killed_early, reference) == []
    print(f"one worker: {len(reference.alerts)} alert changes, {len(reference.notifications)} notifications; "
          f"two workers: {len(shared.alerts)}; two with a SIGKILL: {len(killed.alerts)} records "
          f"({len(killed.alerts) - len(reference.alerts)} repeated)")
