"""Remembers which lines of an export file are already handled, so a retry repeats none.

A file is known by the SHA-256 of its content and the topic it goes to; its journal is
``<data_dir>/import-journal/<digest>.json`` with the line ranges that Kafka has
acknowledged (published or dead-lettered). The journal is written only after a flush
has confirmed those lines, so it can lag but never lead: after a crash a retry may
republish the last unconfirmed stretch, never skip a line. Lifecycle events carry their
own event_id, so such a repeat is recognized downstream as a duplicate.

The same pass that hashes the file counts its lines, for the progress display.
"""

from __future__ import annotations

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
        if self.path.exists():
            try:
                state = json.loads(self.path.read_text())
                self._done = [[int(first), int(last)] for first, last in state["done"]]
                self.rejected_before = int(state.get("rejected", 0))
            except (ValueError, TypeError, KeyError) as exc:
                raise InputFileError(f"the import journal {self.path} of {source} is damaged ({exc}); "
                                     "remove it to import the file from the start") from exc

    def is_done(self, line: int) -> bool:
        # Ranges are few (usually one), so a scan is cheaper than anything cleverer.
        return any(first <= line <= last for first, last in self._done)

    @property
    def done_count(self) -> int:
        return sum(last - first + 1 for first, last in self._done)

    def mark_done(self, lines: list[int], rejected: int = 0) -> None:
        merged = [tuple(r) for r in self._done] + [(n, n) for n in lines]
        merged.sort()
        ranges: list[list[int]] = []
        for first, last in merged:
            if ranges and first <= ranges[-1][1] + 1:
                ranges[-1][1] = max(ranges[-1][1], last)
            else:
                ranges.append([first, last])
        self._done = ranges
        self.rejected_before += rejected

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"source": str(self.source), "sha256": self.digest,
                                         "topic": self.topic, "done": self._done,
                                         "rejected": self.rejected_before}))
        os.replace(temporary, self.path)
