"""Which batches the detector refuses: a partition's records may repeat but not skip
ahead of the offset due next, unless Kafka holds no record in between."""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import TP

from ucwatch.streams.continuity import Continuity, Gap, gap_holding

P0, P1 = TP("lifecycle", 0), TP("lifecycle", 1)


@dataclass(frozen=True)
class Message:
    tp: TP
    offset: int


def batch(*records: tuple[TP, int]) -> list[Message]:
    return [Message(tp, offset) for tp, offset in records]


def test_records_that_follow_the_committed_offsets_have_no_gap() -> None:
    continuity = Continuity({P0: 10, P1: None}.get)
    gaps, after = continuity.gaps(batch((P0, 10), (P1, 0), (P0, 11), (P1, 1)))
    assert gaps == [] and after == {P0: 12, P1: 2}


def test_a_record_past_the_committed_offset_is_a_gap() -> None:
    continuity = Continuity({P0: 282}.get)
    gaps, _ = continuity.gaps(batch((P0, 320), (P0, 321)))
    assert gaps == [Gap(P0, 282, 320)]
    assert str(gaps[0]) == "lifecycle partition 0: offset 320 came where 282 was due"


def test_a_gap_inside_a_batch_and_across_batches() -> None:
    continuity = Continuity({P0: 0}.get)
    gaps, after = continuity.gaps(batch((P0, 0), (P0, 1), (P0, 5)))
    assert gaps == [Gap(P0, 2, 5)]
    continuity.passed(after)
    assert continuity.gaps(batch((P0, 6)))[0] == []
    assert continuity.gaps(batch((P0, 9)))[0] == [Gap(P0, 6, 9)]


def test_repeats_after_a_seek_back_are_not_gaps() -> None:
    continuity = Continuity({P0: 0}.get)
    _, after = continuity.gaps(batch((P0, 0), (P0, 1), (P0, 2)))
    continuity.passed(after)
    gaps, after = continuity.gaps(batch((P0, 1), (P0, 2), (P0, 3)))
    assert gaps == [] and after == {P0: 4}


def test_a_committed_offset_beyond_what_the_worker_handled_is_due() -> None:
    committed = {P0: 0}
    continuity = Continuity(committed.get)
    continuity.passed(continuity.gaps(batch((P0, 0), (P0, 1)))[1])
    committed[P0] = 100   # another worker had the partition meanwhile
    assert continuity.gaps(batch((P0, 100)))[0] == []
    assert continuity.gaps(batch((P0, 101)))[0] == [Gap(P0, 100, 101)]


def test_a_partition_kept_through_a_rebalance_goes_on_after_what_the_worker_handled() -> None:
    committed = {P0: 137}   # the commit behind the last batches did not get through
    continuity = Continuity(committed.get)
    continuity.passed({P0: 481})   # it handled up to 480
    # the rebalance: resumed where the worker was, or sought back to the committed offset
    assert continuity.gaps(batch((P0, 481), (P0, 482)))[0] == []
    assert continuity.gaps(batch((P0, 137), (P0, 138)))[0] == []   # repeats
    assert continuity.gaps(batch((P0, 483)))[0] == [Gap(P0, 481, 483)]


def test_the_gap_a_record_on_kafka_lies_inside() -> None:
    gaps = [Gap(P0, 2, 5), Gap(P0, 9, 12), Gap(P1, 2, 5)]
    assert gap_holding(gaps, P0, 3) == Gap(P0, 2, 5)
    assert gap_holding(gaps, P0, 11) == Gap(P0, 9, 12)
    assert gap_holding(gaps, P0, 5) is None and gap_holding(gaps, P0, 1) is None   # the batch's own, a repeat
    assert gap_holding(gaps, P1, 12) is None
