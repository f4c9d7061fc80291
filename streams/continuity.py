"""Each partition's records reach the detector without a hole, or the worker stops.

A child's alerts are only right if the engine sees every one of its events: a record
lost between Kafka and the detector changes the alerts of every later event of that
child, and a restart does not mend it (the replay applies the lost events over states
that already hold the later ones). faust can lose records that way: after a SIGKILL and
a rebalance before the group's first commits, a worker's first batch began 38 records
past its partitions' committed offsets, in about 1 run in 16 (docs/detect.md, "Records
faust skipped"); the commit watch stopped the worker 30 s later, its outputs already
wrong.

So before a batch is handled, `Continuity.gaps` walks it: per partition, a record must
not come after the offset expected next (the last one handled in this assignment plus
one, else the group's committed offset, else 0). Repeats (a lower offset) are fine.
A gap is not always a loss: a transaction's marker takes an offset and is never
delivered, and retention removes a log's first records. So a gap is looked up on Kafka
(`skipped_records`: one plain consumer per batch, reading as faust does): if a record
lies inside it, the batch is refused before anything of it is handled or acked, and the worker
resumes from its last committed offset.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from faust.types import TP

LOOKUP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Gap:
    tp: TP
    expected: int
    got: int

    def __str__(self) -> str:
        return f"{self.tp.topic} partition {self.tp.partition}: offset {self.got} came where {self.expected} was due"


class RecordsSkipped(Exception):
    """Records of a partition never reached the detector; the batch must not be handled."""


class Continuity:
    """The offset each partition's next record should have: the one after the last record
    this worker handled, or the group's committed offset where that is further (another
    worker had the partition meanwhile). Kept across rebalances: a partition the worker
    keeps may go on after its last handled record though no commit behind it got through
    (seen in the fault suite: a broker stopped during the rebalance; the worker, the only
    one that had had the partition, went on at 481 while faust knew 137 as committed, and
    was stopped for a hole of records it had itself handled)."""

    def __init__(self, committed: Callable[[TP], int | None]) -> None:
        self._committed = committed
        self._next: dict[TP, int] = {}

    def gaps(self, messages: Iterable[Any]) -> tuple[list[Gap], dict[TP, int]]:
        """The gaps in a batch, and where each partition stands after it (for `passed`)."""
        after: dict[TP, int] = {}
        gaps = []
        for message in messages:
            tp, offset = message.tp, message.offset
            expected = after.get(tp)
            if expected is None:
                expected = max(self._next.get(tp, 0), self._committed(tp) or 0)
            if offset > expected:
                gaps.append(Gap(tp, expected, offset))
            after[tp] = max(expected, offset + 1)
        return gaps, after

    def passed(self, after: dict[TP, int]) -> None:
        """A batch was handled: its partitions stand where `gaps` said."""
        self._next.update(after)


def gap_holding(gaps: list[Gap], tp: TP, offset: int) -> Gap | None:
    """The gap of `tp` that a record at `offset` lies inside, if any."""
    return next((gap for gap in gaps if gap.tp == tp and gap.expected <= offset < gap.got), None)


def skipped_records(config: dict[str, Any], gaps: list[Gap], timeout_s: float = LOOKUP_TIMEOUT_S) -> list[Gap]:
    """The gaps with a record inside them on Kafka, read as faust reads (transactions'
    markers skipped, aborted records included): one consumer reads each partition from its
    first gap to its last, and stops at the first record found inside one. A partition
    not read that far within the timeout counts as skipped records: Kafka could not tell."""
    spans: dict[TP, list[int]] = {}
    for gap in gaps:
        start, end = spans.setdefault(gap.tp, [gap.expected, gap.got])
        spans[gap.tp] = [min(start, gap.expected), max(end, gap.got)]
    consumer = Consumer({**config, "group.id": f"ucwatch-continuity-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_uncommitted"})
    try:
        consumer.assign([TopicPartition(tp.topic, tp.partition, start) for tp, (start, _) in spans.items()])
        unread = set(spans)
        deadline = time.monotonic() + timeout_s
        while unread and (left := deadline - time.monotonic()) > 0:
            for message in consumer.consume(500, min(left, 1.0)):
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if message.error() is not None or topic is None or partition is None or offset is None:
                    continue
                tp = TP(topic, partition)
                if tp not in unread:
                    continue
                holding = gap_holding(gaps, tp, offset)
                if holding is not None:
                    return [holding]
                if offset >= spans[tp][1]:
                    unread.discard(tp)
        return [gap for gap in gaps if gap.tp in unread]
    finally:
        consumer.close()
