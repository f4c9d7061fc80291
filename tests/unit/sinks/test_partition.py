"""Batching one partition (sinks/partition.py), fresh and after a restart."""

from __future__ import annotations

from ucwatch.sinks.batch import Batch, batch_token
from ucwatch.sinks.partition import PartitionBatches
from ucwatch.sinks.replay import Range

T, P = "t", 0


def row(offset: int) -> list[int]:
    return [P, offset]


def feed(part: PartitionBatches, offsets: list[int]) -> list[Batch]:
    closed = []
    for offset in offsets:
        closed += part.add(offset, row(offset))
    return closed


def spans(batches: list[Batch]) -> list[tuple[int, int, str]]:
    return [(b.first_offset, b.end_offset, b.token) for b in batches]


def test_a_fresh_partition_batches_by_size_or_time() -> None:
    part = PartitionBatches(T, P, "events")
    assert feed(part, [0, 1, 2]) == []
    assert part.due(max_rows=5, max_seconds=60, now=0, force=False) is None
    batch = part.due(max_rows=3, max_seconds=60, now=0, force=False)
    assert batch is not None and (batch.first_offset, batch.end_offset, batch.rows) == (0, 2, [row(0), row(1), row(2)])
    assert part.open is None


def test_ledgered_ranges_are_formed_again_exactly() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14), Range(15, 19)])
    closed = feed(part, list(range(10, 22)))
    assert spans(closed) == [(10, 14, batch_token(T, P, 10, 14)), (15, 19, batch_token(T, P, 15, 19))]
    assert all(b.is_replay() for b in closed)
    # what follows is new, and batched as usual
    assert part.open is not None and (part.open.first_offset, part.open.is_replay()) == (20, False)


def test_a_replayed_range_is_never_cut_by_size_or_force() -> None:
    part = PartitionBatches(T, P, "events", [Range(0, 9)])
    feed(part, [0, 1, 2, 3])
    assert part.due(max_rows=1, max_seconds=0, now=1e9, force=True) is None


def test_a_batch_before_a_ledgered_range_ends_before_it() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14)])
    closed = feed(part, [7, 8, 9, 10, 11, 12, 13, 14])
    assert spans(closed) == [(7, 9, batch_token(T, P, 7, 9)), (10, 14, batch_token(T, P, 10, 14))]
    assert not closed[0].is_replay()


def test_a_gap_across_the_boundary_closes_the_batch_before_the_range() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14)])
    closed = feed(part, [7, 8, 11, 12, 13, 14])  # 9 and 10 compacted away
    assert spans(closed) == [(7, 8, batch_token(T, P, 7, 8)), (10, 14, batch_token(T, P, 10, 14))]


def test_a_range_whose_head_was_compacted_keeps_its_token() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14)])
    (batch,) = feed(part, [12, 13, 14])
    assert (batch.first_offset, batch.end_offset, batch.token) == (10, 14, batch_token(T, P, 10, 14))
    assert [r[1] for r in batch.rows] == [12, 13, 14]


def test_a_range_whose_tail_was_compacted_ends_at_the_next_record() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14)])
    closed = feed(part, [10, 11, 16])
    assert spans(closed) == [(10, 14, batch_token(T, P, 10, 14))]
    assert part.open is not None and part.open.first_offset == 16


def test_a_range_entirely_compacted_is_passed() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14), Range(20, 24)])
    closed = feed(part, [16, 20, 21, 22, 23, 24])
    assert spans(closed) == [(16, 16, batch_token(T, P, 16, 16)), (20, 24, batch_token(T, P, 20, 24))]
    assert not part.in_doubt


def test_at_the_partitions_end_an_open_replay_is_finished_and_the_rest_dropped() -> None:
    part = PartitionBatches(T, P, "events", [Range(10, 14), Range(30, 39)])
    feed(part, [10, 11])
    closed = part.reached_end(12)
    assert spans(closed) == [(10, 14, batch_token(T, P, 10, 14))]
    assert part.settled()
