"""A partition's commit point and the delivery log's start stored with it."""

from __future__ import annotations

from ucwatch.notify.offsets import PartitionProgress, log_start_from_metadata


def test_commit_point_is_the_lowest_unfinished_offset() -> None:
    progress = PartitionProgress(committed=10, log_end=0)
    assert progress.to_commit() is None
    for offset in (10, 11, 12):
        progress.taken(offset)
    progress.finished(11)
    progress.finished(12)
    assert progress.commit_point() == 10 and progress.to_commit() is None
    progress.finished(10)
    assert progress.to_commit() == (13, "log=0")


def test_log_start_is_the_first_record_of_a_notice_at_or_after_the_point() -> None:
    progress = PartitionProgress(committed=0, log_end=100)
    for offset in range(4):
        progress.taken(offset)
    progress.logged(0, 100)
    progress.logged(2, 101)
    progress.logged(1, 102)
    progress.logged(2, 103)
    progress.finished(0)
    assert progress.to_commit() == (1, "log=101")
    progress.committed_at(1)
    progress.finished(1)
    progress.finished(2)
    assert progress.to_commit() == (3, "log=104"), "nothing about offset 3 yet: the log's end"


def test_a_committed_offset_of_none_starts_at_zero() -> None:
    progress = PartitionProgress(committed=-1001, log_end=5)
    progress.taken(7)  # retention removed 0..6
    progress.finished(7)
    assert progress.to_commit() == (8, "log=5")


def test_metadata_round_trip_and_garbage() -> None:
    assert log_start_from_metadata("log=42") == 42
    for garbage in (None, "", "log=", "log=-1", "offset=3", "log=4x"):
        assert log_start_from_metadata(garbage) is None
