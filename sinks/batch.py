"""One batch: consecutive records of one (topic, partition), written in one insert per table.

A batch is named by its offset range. Its deduplication token is derived from that
name alone, so the same records written twice (a retry, or a replay after a crash) carry
the same token and ClickHouse keeps one copy. How a batch begins and where it must end
after a restart is sinks/replay.py's decision.

Its rows are those of its topic's table and, kept apart, the `SideRow`s its records gave
for other tables (declared watermarks on the lifecycle topic): one range, one ledger
entry, one token for every table it writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ucwatch.sinks.rows import Row, SideRow


def batch_token(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    return f"ucwatch:{topic}:{partition}:{first_offset}-{last_offset}"


@dataclass
class Batch:
    topic: str
    partition: int
    table: str
    first_offset: int
    last_offset: int = -1
    rows: list[Row] = field(default_factory=list)
    side_rows: dict[str, list[Row]] = field(default_factory=dict)
    """Rows for other tables than `table`, by table (`SideRow`s)."""
    records: int = 0
    """Records consumed, rows or not (ticks and dead letters advance offsets too)."""
    started: float = field(default_factory=time.monotonic)
    replay_until: int | None = None
    """Set when this batch forms a ledgered range again: it ends exactly at this offset."""
    end_by: int | None = None
    """Set when a ledgered range follows: this batch ends at this offset at the latest."""
    limit: int | None = field(init=False)
    """The last offset this batch may hold, if it has one."""

    def __post_init__(self) -> None:
        self.limit = self.replay_until if self.replay_until is not None else self.end_by

    def add(self, offset: int, row: Row | None) -> None:
        self.last_offset = offset
        self.records += 1
        if row is not None:
            if type(row) is SideRow:
                self.side_rows.setdefault(row.table, []).append(row)
            else:
                self.rows.append(row)

    @property
    def row_count(self) -> int:
        return len(self.rows) + sum(len(rows) for rows in self.side_rows.values())

    def tables(self) -> list[tuple[str, list[Row]]]:
        """(table, rows) for every table this batch writes, its own first."""
        own = [(self.table, self.rows)] if self.rows else []
        return own + [(table, rows) for table, rows in self.side_rows.items() if rows]

    @property
    def end_offset(self) -> int:
        """The last offset this batch stands for (a replayed range may end on a compacted record)."""
        return max(self.last_offset, self.replay_until if self.replay_until is not None else -1)

    @property
    def token(self) -> str:
        return batch_token(self.topic, self.partition, self.first_offset, self.end_offset)

    def is_replay(self) -> bool:
        return self.replay_until is not None

    def full(self) -> bool:
        """No further record of the partition can join this batch."""
        return self.limit is not None and self.last_offset >= self.limit

    def due(self, max_rows: int, max_seconds: float, now: float) -> bool:
        if self.replay_until is not None:
            return self.full()  # a replayed range is written whole or not at all
        return self.full() or self.row_count >= max_rows or (
            self.records > 0 and now - self.started >= max_seconds)
