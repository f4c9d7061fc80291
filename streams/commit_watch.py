"""Whether faust has stopped committing a partition for good: a worker must never go on
processing a partition whose offsets can no longer be committed.

faust commits a partition up to the first gap in the offsets its streams acked
(`Consumer._new_offset`); when the acked offsets start more than one past the committed
offset, it commits nothing more for that partition until it is reassigned (faust-streaming
issues #312 and #606). Seen in the fault suite: one partition's commit stayed at 29 while
its records up to 1,245 were processed, with no rebalance and no log line for six minutes.
The records keep being processed, so nothing is lost, but the commit never moves again: a
restart would handle everything since once more, and the lag only grows.
Seen again in CI after a SIGKILLed worker restarted (RocksDB store): committed 332, acked
from 357 on. Reading the partition again from its committed offset while faust runs
(`seek_wait`, tried) is no cure: faust then committed that partition one record per
second. So the worker leaves, and its supervisor (`ucwatch run`, Kubernetes) restarts it.

`CommitWatch.observe` takes, for each partition held, faust's committed offset and the
lowest offset acked but not committed. A partition whose acked offsets have started past
that gap for `grace_s` (in monotonic time; a gap at the head can open for a moment while a
batch is taken) is stuck. The glue (streams/operations.py) then logs one line and leaves
the process like a half-written batch does (streams/durable.py): it restarts from its last
committed offset, where the replayed records are recognized by the state and change
nothing (docs/detect.md, Crash points).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stuck:
    partition: tuple[str, int]
    committed: int
    lowest_acked: int
    for_s: float

    def describe(self) -> str:
        topic, partition = self.partition
        return (f"faust stopped committing {topic} partition {partition}: committed offset {self.committed}, "
                f"records acked from {self.lowest_acked} on, for {self.for_s:.0f} s (a gap faust never "
                "closes); the worker stops and resumes from its last committed offset")


class CommitWatch:
    def __init__(self, grace_s: float = 30.0, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._monotonic = monotonic
        self._gap_since: dict[tuple[str, int], tuple[int, float]] = {}

    def observe(self, heads: Mapping[tuple[str, int], tuple[int | None, int | None]]) -> list[Stuck]:
        """`heads`: per partition held, (committed offset, lowest acked offset not committed);
        either may be None. Returns the partitions stuck for at least `grace_s`."""
        now = self._monotonic()
        stuck = []
        gaps = {}
        for partition, (committed, lowest_acked) in heads.items():
            if committed is None or committed < 0 or lowest_acked is None or lowest_acked - committed <= 1:
                continue  # faust's own rule: a head one past the committed offset still commits
            seen = self._gap_since.get(partition)
            since = seen[1] if seen is not None and seen[0] == committed else now
            gaps[partition] = (committed, since)
            if now - since >= self.grace_s:
                stuck.append(Stuck(partition, committed, lowest_acked, now - since))
        self._gap_since = gaps
        return stuck
