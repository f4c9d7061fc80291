"""Remembers which lines of an export file are already handled, so a retry repeats none.

A file is known by the SHA-256 of its content and the topic it goes to; its journal is
``<data_dir>/import-journal/<digest>.json`` with the line ranges that Kafka has
acknowledged (published or dead-lettered), line by line from their delivery reports:
a line whose record failed leaves a gap, which the retry fills. Lines are recorded only
once acknowledged, so the journal can lag but never lead: after a crash a retry may
republish lines acknowledged since the last write, never skip one. Lifecycle events carry
their own event_id, so such a repeat is recognized downstream as a duplicate.

The same pass that hashes the file counts its lines, for the progress display.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from pathlib import Path

from ucwatch.core.errors import InputFileError


def file_digest(path: Path) -> tuple[str, int]:
    """(SHA-256 of the content, number of lines): one pass over the file."""
    digest = hashlib.sha256()
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1:]
    return digest.hexdigest(), lines + (last != b"\n")


class ImportJournal:
    def __init__(self, folder: Path, source: Path, topic: str) -> None:
        self.digest, self.lines = file_digest(source)
        key = hashlib.sha256(f"{self.digest}:{topic}".encode()).hexdigest()
        self.path = folder / f"{key}.json"
        self.source = source
        self.topic = topic
        self.rejected_before = 0
        self._done: list[list[int]] = []
        self._firsts: list[int] = []
        if self.path.exists():
            try:
                state = json.loads(self.path.read_text())
                self._done = [[int(first), int(last)] for first, last in state["done"]]
                self.rejected_before = int(state.get("rejected", 0))
            except (ValueError, TypeError, KeyError) as exc:
                raise InputFileError(f"the import journal {self.path} of {source} is damaged ({exc}); "
                                     "remove it to import the file from the start") from exc
            self._done = _merged(sorted(self._done))
            self._firsts = [first for first, _ in self._done]

    def is_done(self, line: int) -> bool:
        # Usually one range; after a broker outage, a gap for every record that failed.
        at = bisect.bisect_right(self._firsts, line) - 1
        return at >= 0 and line <= self._done[at][1]

    @property
    def done_count(self) -> int:
        return sum(last - first + 1 for first, last in self._done)

    def mark_done(self, lines: list[int], rejected: int = 0) -> None:
        self._done = _merged(sorted([*self._done, *([n, n] for n in lines)]))
        self._firsts = [first for first, _ in self._done]
        self.rejected_before += rejected

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"source": str(self.source), "sha256": self.digest,
                                         "topic": self.topic, "done": self._done,
                                         "rejected": self.rejected_before}))
        os.replace(temporary, self.path)


def _merged(ranges: list[list[int]]) -> list[list[int]]:
    """Sorted ranges with the overlapping and adjacent ones joined."""
    joined: list[list[int]] = []
    for first, last in ranges:
        if joined and first <= joined[-1][1] + 1:
            joined[-1][1] = max(joined[-1][1], last)
        else:
            joined.append([first, last])
    return joined
