"""One assigned partition: its open batch and the ledgered ranges it must form again.

Records arrive in offset order, with gaps (compaction, transaction markers). A record
joins the open batch unless that batch must end before it (its `limit`); when no batch is
open, `replay.decide` says how the next one begins. Batches leave either complete (a
replayed range, or a batch that reached the range after it) or when due by size or time.
Pure logic: no Kafka, no ClickHouse.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.replay import Case, Range, beyond_end, decide
from ucwatch.sinks.rows import Row

log = logging.getLogger("ucwatch.sink")


class PartitionBatches:
    def __init__(self, topic: str, partition: int, table: str, in_doubt: Sequence[Range] = ()) -> None:
        self.topic = topic
        self.partition = partition
        self.table = table
        self.in_doubt: deque[Range] = deque(in_doubt)
        self.open: Batch | None = None
        self.at_end = False

    def add(self, offset: int, row: Row | None) -> Sequence[Batch]:
        """Takes one record; returns the batches that can take no further record."""
        self.at_end = False
        batch = self.open
        if batch is not None and batch.limit is None:  # the common case, kept short
            batch.add(offset, row)
            return ()
        closed = []
        if batch is not None and batch.limit is not None and offset > batch.limit:
            closed.append(self._close())  # the rest of its range is gone (compacted)
        if self.open is None:
            self.open = self._begin(offset)
        self.open.add(offset, row)
        if self.open.full():
            closed.append(self._close())
        return closed

    def reached_end(self, end: int) -> list[Batch]:
        """Every record before `end` is read: nothing more of the ranges in doubt will come."""
        self.at_end = True
        zero = beyond_end(end, self.in_doubt)
        if zero:
            log.warning("%s:%d: %d ledgered range(s) start at or after the partition's end (%d): "
                        "the topic was made again or its records expired; not written again",
                        self.topic, self.partition, zero, end)
        self.in_doubt.clear()
        if self.open is not None and self.open.is_replay():
            return [self._close()]  # its tail is gone
        return []

    def due(self, max_rows: int, max_seconds: float, now: float, force: bool) -> Batch | None:
        """The open batch if it is due; `force`: any open batch but a replayed range."""
        batch = self.open
        if batch is None:
            return None
        if (force and not batch.is_replay()) or batch.due(max_rows, max_seconds, now):
            return self._close()
        return None

    @property
    def rows_held(self) -> int:
        return self.open.row_count if self.open is not None else 0

    def settled(self) -> bool:
        """Read to its end, nothing open, nothing in doubt."""
        return self.at_end and self.open is None and not self.in_doubt

    def _begin(self, offset: int) -> Batch:
        decision = decide(offset, self.in_doubt)
        for _ in range(decision.passed):
            self.in_doubt.popleft()  # all its records were compacted away
        if decision.case in (Case.SAME, Case.CONTAINS):
            self.in_doubt.popleft()
            return Batch(self.topic, self.partition, self.table, first_offset=decision.first_offset,
                         replay_until=decision.replay_until)
        return Batch(self.topic, self.partition, self.table, first_offset=offset, end_by=decision.end_by)

    def _close(self) -> Batch:
        batch, self.open = self.open, None
        if batch is None:
            raise RuntimeError(f"{self.topic}:{self.partition}: no open batch to close")
        return batch
