"""The stall watch: a partition held whose committed position stands still with records
behind it, whatever the cause, unless the table's recovery is reading."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.types import TP as TopicPartition

from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.settings import Settings, StreamsSettings
from ucwatch.streams.stall_watch import StallWatch

TP = ("ucwatch.lifecycle", 2)
OTHER = ("ucwatch.lifecycle", 5)
TP_CHANGELOG = TopicPartition("changelog", 2)


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_position_that_stands_with_records_behind_it_past_the_grace_is_stalled() -> None:
    clock = Monotonic()
    watch = StallWatch(90.0, monotonic=clock)
    assert watch.observe({TP: (332, 3352), OTHER: (10, 10)}, recovery=(0, 0)) == []
    clock.now = 89.0
    assert watch.observe({TP: (332, 3400), OTHER: (10, 10)}, recovery=(0, 0)) == []
    clock.now = 90.0
    [stalled] = watch.observe({TP: (332, 3400), OTHER: (10, 10)}, recovery=(0, 0))
    assert (stalled.partition, stalled.position, stalled.end, stalled.for_s) == (TP, 332, 3400, 90.0)
    assert "partition 2 has not moved for 90 s at offset 332 (committed, or read by the table's recovery), " \
        "3068 record(s) behind it" in stalled.describe()


def test_a_position_that_moves_or_has_nothing_behind_it_is_not_stalled() -> None:
    clock = Monotonic()
    watch = StallWatch(90.0, monotonic=clock)
    for step, positions in enumerate([{TP: (0, 500)}, {TP: (120, 500)}, {TP: (500, 500)}, {TP: (500, 500)},
                                      {TP: (500, 900)}, {TP: (640, 900)}]):
        clock.now = step * 100.0
        assert watch.observe(positions, recovery=(0, 0)) == [], positions


def test_a_recovery_that_reads_is_no_stall_and_one_that_stops_reading_is() -> None:
    clock = Monotonic()
    watch = StallWatch(90.0, monotonic=clock)
    for step in range(5):  # a long recovery: nothing committed, the changelog read further each time
        clock.now = step * 60.0
        assert watch.observe({TP: (0, 4000)}, recovery=(step * 1000, 0)) == []
    clock.now = 300.0
    assert watch.observe({TP: (0, 4000)}, recovery=(4000, 0)) == []
    clock.now = 390.0
    assert [s.partition for s in watch.observe({TP: (0, 4000)}, recovery=(4000, 0))] == [TP]


def test_a_partition_no_longer_measured_is_forgotten() -> None:
    clock = Monotonic()
    watch = StallWatch(90.0, monotonic=clock)
    watch.observe({TP: (5, 50)}, recovery=None)
    clock.now = 60.0
    watch.observe({}, recovery=None)  # Kafka did not answer, or the partition went elsewhere
    clock.now = 120.0
    assert watch.observe({TP: (5, 50)}, recovery=None) == []


def test_the_worker_reports_a_stall_with_what_faust_knows_and_leaves_for_its_supervisor(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """The glue reads faust's private state to explain the stall: this runs it on a real
    (unstarted) faust app, so a renamed attribute fails here and not in a stalled worker."""
    import faust

    from ucwatch.streams import operations

    settings = Settings(data_dir=tmp_path, streams=StreamsSettings(metrics_port=0, partition_stall_s=90.0))
    app = faust.App("stall-watch-test", broker="kafka://127.0.0.1:1", web_enabled=False, store="memory://")
    watched = operations.WorkerOperations(app, settings, "w0")
    clock = Monotonic()
    watched._stalls = StallWatch(90.0, monotonic=clock)
    watched._lag = SimpleNamespace(positions={TP: (332, 3352)}, answering=True)  # type: ignore[assignment]
    watched._detector = SimpleNamespace(  # type: ignore[assignment]
        batch_progress=lambda: "a batch of 7 record(s) waiting for Kafka to acknowledge its outputs for 91 s")

    def leave(code: ExitCode) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(operations, "leave_now", leave)
    try:
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        recovery.active_offsets.update({TP_CHANGELOG: None, TopicPartition("changelog", 1): 5})  # None: nothing read
        watched._check_stalls()
        clock.now = 90.0
        with caplog.at_level(logging.CRITICAL, logger="ucwatch.streams.operations"), \
                pytest.raises(SystemExit) as left:
            watched._check_stalls()
    finally:  # faust's consumer made two event loops (its own and its thread's) that it closes only when run
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
    assert left.value.code == ExitCode.UNDELIVERED
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "partition 2 has not moved for 90 s" in line and "still assigned False" in line, line
    assert line.endswith("the detector: a batch of 7 record(s) waiting for Kafka to acknowledge its outputs "
                         "for 91 s)"), line


def test_a_table_recovery_that_reads_nothing_more_of_its_changelog_is_a_stall(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Seen here: after a SIGKILLed worker's partitions came back to the survivor, faust's
    recovery received no changelog record for minutes (faust: "No event received for
    active tp ... since recovery start"), the lifecycle partitions paused meanwhile."""
    import faust

    from ucwatch.streams import operations

    settings = Settings(data_dir=tmp_path, streams=StreamsSettings(metrics_port=0, partition_stall_s=90.0))
    app = faust.App("recovery-stall-test", broker="kafka://127.0.0.1:1", web_enabled=False, store="memory://")
    watched = operations.WorkerOperations(app, settings, "w0")
    clock = Monotonic()
    watched._recovery_stalls = StallWatch(15.0, monotonic=clock)
    watched._stalls = StallWatch(90.0, monotonic=clock)
    watched._lag = SimpleNamespace(positions={}, answering=True)  # type: ignore[assignment]

    def leave(code: ExitCode) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(operations, "leave_now", leave)
    try:
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        recovery.in_recovery = True
        recovery.active_highwaters.update({TP_CHANGELOG: 57, TopicPartition("changelog", 1): 12})
        recovery.active_offsets.update({TP_CHANGELOG: 3, TopicPartition("changelog", 1): 12})  # 1: read up to its end
        watched._check_stalls()
        clock.now = 10.0
        recovery.active_offsets[TP_CHANGELOG] = 9   # still reading
        watched._check_stalls()
        clock.now = 12.0
        watched._lag.answering = False   # a broker outage (seen in CI): nothing can be read, nothing is stalled
        watched._check_stalls()
        clock.now = 60.0
        watched._check_stalls()
        watched._lag.answering = True    # Kafka is back: the grace starts again
        watched._check_stalls()
        clock.now = 74.0
        watched._check_stalls()
        clock.now = 75.0
        with caplog.at_level(logging.CRITICAL, logger="ucwatch.streams.operations"), \
                pytest.raises(SystemExit) as left:
            watched._check_stalls()
    finally:
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
    assert left.value.code == ExitCode.UNDELIVERED
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "changelog partition 2 has not moved for 15 s at offset 9" in line and "48 record(s) behind" in line
