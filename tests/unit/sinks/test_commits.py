"""Offset commits (sinks/commits.py): never blocking, never retried blindly."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from ucwatch.core.retry import Backoff
from ucwatch.sinks.commits import Committer

A, B = ("t", 0), ("t", 1)


class Recorder:
    """A consumer that records commits; results are handed to the committer by the test."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[tuple[str, int], int], bool]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.sent.append(({(tp.topic, tp.partition): tp.offset for tp in offsets}, asynchronous))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def report(error: int | None, offsets: dict[tuple[str, int], int]) -> tuple[Any, list[TopicPartition]]:
    return (KafkaError(error) if error is not None else None,
            [TopicPartition(t, p, o) for (t, p), o in offsets.items()])


def make() -> tuple[Committer, Recorder, Clock]:
    consumer, clock = Recorder(), Clock()
    return Committer(consumer, backoff=Backoff(first_s=1.0, max_s=4.0), clock=clock), consumer, clock


def test_a_commit_is_sent_asynchronously_with_the_highest_offset_per_partition() -> None:
    committer, consumer, _ = make()
    committer.offer({A: 5, B: 3})
    committer.offer({A: 9})
    committer.send([A, B])
    assert consumer.sent == [({A: 9, B: 3}, True)]
    committer.send([A, B])  # one in flight at a time
    assert len(consumer.sent) == 1
    committer.on_commit(*report(None, {A: 9, B: 3}))
    assert committer.idle


def test_offsets_of_partitions_no_longer_held_are_not_committed() -> None:
    committer, consumer, _ = make()
    committer.offer({A: 5, B: 3})
    committer.send([A])
    assert consumer.sent == [({A: 5}, True)]


def test_a_lost_membership_drops_the_commit_and_holds_further_ones_until_assigned() -> None:
    committer, consumer, clock = make()
    committer.offer({A: 5})
    committer.send([A])
    committer.on_commit(*report(KafkaError.UNKNOWN_MEMBER_ID, {A: 5}))
    assert committer.dropped == 1 and not committer.idle  # waiting for the next assignment
    committer.offer({A: 8})
    clock.now += 100
    committer.send([A])
    assert len(consumer.sent) == 1  # nothing sent with the stale membership
    committer.assigned()
    committer.send([A])
    assert consumer.sent[-1] == ({A: 8}, True)


def test_an_unreachable_coordinator_keeps_the_offsets_and_backs_off() -> None:
    committer, consumer, clock = make()
    committer.offer({A: 5})
    committer.send([A])
    committer.on_commit(*report(KafkaError._WAIT_COORD, {A: 5}))
    committer.send([A])
    assert len(consumer.sent) == 1  # backing off
    clock.now += 1.0
    committer.offer({A: 7})
    committer.send([A])
    assert consumer.sent[-1] == ({A: 7}, True)
    committer.on_commit(*report(KafkaError._WAIT_COORD, {A: 7}))
    clock.now += 1.5
    committer.send([A])
    assert len(consumer.sent) == 2  # the second delay is 2 s
    clock.now += 0.5
    committer.send([A])
    committer.on_commit(*report(None, {A: 7}))
    assert len(consumer.sent) == 3 and committer.idle


def test_a_late_report_does_not_drop_newer_offsets() -> None:
    committer, _, _ = make()
    committer.offer({A: 5})
    committer.send([A])
    committer.offer({A: 9})
    committer.on_commit(*report(None, {A: 5}))
    assert not committer.idle  # 9 is still to be committed


def test_forgotten_partitions_are_not_committed() -> None:
    committer, consumer, _ = make()
    committer.offer({A: 5, B: 6})
    committer.forget([A])
    committer.send([A, B])
    assert consumer.sent == [({B: 6}, True)]
