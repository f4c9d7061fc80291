"""One partition's progress: which notices are finished, the offset to commit, and where
the delivery log must be read from after a crash.

A notice is finished when every endpoint has a final outcome whose log record the broker
acknowledged. The commit point is the lowest offset taken and not finished (or one past
the last taken): nothing before it can need a delivery again.

The log start is stored with each commit (as the offset's metadata, ``log=<offset>``): the
lowest offset of the delivery log partition that holds a record about a notice at or
after the commit point, or, when there is none, the end of the log as known here. Records
about later notices can only be written after that end (one producer per partition
writes in order). Reading the log from there after a restart therefore sees every
attempt and outcome of every notice that will be read again, and nothing older.
"""

from __future__ import annotations

METADATA_PREFIX = "log="


class PartitionProgress:
    def __init__(self, committed: int, log_end: int) -> None:
        self.committed = max(committed, 0)
        """The offset committed last (the next to read after a restart)."""
        self.log_end = log_end
        """One past the last log record known here (read at assignment, or acknowledged)."""
        self._consumed_to = self.committed
        self._open: set[int] = set()
        self._log_first: dict[int, int] = {}

    def taken(self, offset: int) -> None:
        self._open.add(offset)
        self._consumed_to = max(self._consumed_to, offset + 1)

    def finished(self, offset: int) -> None:
        self._open.discard(offset)

    def logged(self, notice_offset: int, log_offset: int) -> None:
        """A log record about the notice at `notice_offset` is at `log_offset`."""
        if notice_offset >= self.committed:
            first = self._log_first.get(notice_offset)
            self._log_first[notice_offset] = log_offset if first is None else min(first, log_offset)
        self.log_end = max(self.log_end, log_offset + 1)

    @property
    def open(self) -> int:
        return len(self._open)

    def commit_point(self) -> int:
        return min(self._open) if self._open else self._consumed_to

    def log_start(self, point: int) -> int:
        return min((log for notice, log in self._log_first.items() if notice >= point), default=self.log_end)

    def to_commit(self) -> tuple[int, str] | None:
        """(offset, metadata) when the commit point moved past the last commit."""
        point = self.commit_point()
        if point <= self.committed:
            return None
        return point, f"{METADATA_PREFIX}{self.log_start(point)}"

    def committed_at(self, offset: int) -> None:
        self.committed = max(self.committed, offset)
        self._log_first = {notice: log for notice, log in self._log_first.items() if notice >= self.committed}


def log_start_from_metadata(metadata: str | None) -> int | None:
    """The log start stored with a commit; None when absent or unreadable (read it all)."""
    if not metadata or not metadata.startswith(METADATA_PREFIX):
        return None
    text = metadata[len(METADATA_PREFIX):]
    return int(text) if text.isdigit() else None
