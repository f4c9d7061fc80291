"""Whether a worker has stopped moving while records wait for it: the last resort behind
every other watch, for the stalls nobody has explained.

Seen twice in CI and never here, each time after a worker was SIGKILLed beside another:
a partition's committed offset stood still with records behind it (33 records for 180 s,
3,020 for 600 s), both workers alive and, as far as anyone could see, silent. faust's own
gap (streams/commit_watch.py) ends the process when faust says why; this watch asks the
broker instead, so it sees a stall whatever its cause: a rebalance or a table recovery that
never ends, a fetch that never comes back, a gap faust does not show.

`StallWatch.observe` takes, for each partition held, the group's committed position and the
partition's end, as the broker gives them (core/group_lag.py measures them on its own
thread), and a mark that changes while the table's recovery reads its changelog (a long
recovery commits nothing and is not a stall). A partition with records behind its position
whose position has not moved for `grace_s`, while the recovery did not move either, is
stalled: the glue (streams/operations.py) logs what faust knows of it and leaves the
process as the commit watch does, for its supervisor to start again. The glue watches the
table's recovery the same way, per changelog partition (last offset read, last offset to
read), with a shorter grace: seen here once the cause was named, a survivor whose recovery
of a SIGKILLed worker's partitions received no changelog record for minutes while its
lifecycle partitions waited (faust: "No event received for active tp ... since recovery
start").

A commit moves at least every few seconds while records wait (faust commits every
`broker_commit_every`/`broker_commit_interval`); `grace_s` (`streams.partition_stall_s`,
90 s) is far above that and above a rebalance, and short enough that a restart beats a
person noticing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

STALL_S = 90.0


@dataclass(frozen=True)
class Stalled:
    partition: tuple[str, int]
    position: int
    end: int
    for_s: float

    def describe(self) -> str:
        topic, partition = self.partition
        return (f"{topic} partition {partition} has not moved for {self.for_s:.0f} s at offset {self.position} "
                f"(committed, or read by the table's recovery), {self.end - self.position} record(s) behind it; "
                "the worker stops and resumes from its last committed offset")


class StallWatch:
    def __init__(self, grace_s: float = STALL_S, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._monotonic = monotonic
        self._since: dict[tuple[str, int], tuple[int, float]] = {}
        self._recovery: Hashable = None

    def observe(self, positions: Mapping[tuple[str, int], tuple[int, int]], recovery: Hashable) -> list[Stalled]:
        """`positions`: per partition held, (committed position, end); `recovery`: any value
        that changes while the table's recovery makes progress. Returns the partitions
        stalled for at least `grace_s`."""
        now = self._monotonic()
        if recovery != self._recovery:
            self._recovery = recovery
            self._since = {}
        stalled = []
        since_now = {}
        for partition, (position, end) in positions.items():
            if end <= position:
                continue
            seen = self._since.get(partition)
            since = seen[1] if seen is not None and seen[0] == position else now
            since_now[partition] = (position, since)
            if now - since >= self.grace_s:
                stalled.append(Stalled(partition, position, end, now - since))
        self._since = since_now
        return stalled
