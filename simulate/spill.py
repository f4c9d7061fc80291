"""Pending deliveries grouped by arrival month, spilled to disk so memory stays bounded.

A child encountered in 2019 still has court events arriving in 2023, so every month's
arrivals stay open until the generator has passed that month. Items wait in a small
in-memory buffer per month; a full buffer is appended to that month's file with `marshal`
(items are tuples of ints, strings, bools and None). Memory is the buffers plus the month
being emitted, not the run.

One writer owns a set of files (its `name`): the in-process generator takes its months
back with `take`; worker processes `seal` a month (write what they hold of it) and the
parent reads every writer's file of that month with `load_month`.
"""

from __future__ import annotations

import marshal
import os
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

Item = tuple[Any, ...]
"""A pending delivery (feed.py); only its first value, the recorded time, matters here."""


class ArrivalBuckets:
    def __init__(self, month_starts: list[int], directory: str, name: str = "main",
                 flush_at: int = 4096) -> None:
        self._starts = month_starts
        self._directory = directory
        self._name = name
        self._flush_at = flush_at
        self._buffers: list[list[Item]] = [[] for _ in month_starts]
        self._sealed = 0

    def __len__(self) -> int:
        return len(self._starts)

    def bucket_of(self, ms: int) -> int:
        return bisect_right(self._starts, ms) - 1

    def add(self, items: Iterable[Item]) -> None:
        starts, buffers, first_open, flush_at = self._starts, self._buffers, self._sealed, self._flush_at
        for item in items:
            index = bisect_right(starts, item[0]) - 1
            if index < first_open:
                raise RuntimeError(f"an item recorded at {item[0]} arrived after its month was sealed")
            buffer = buffers[index]
            buffer.append(item)
            if len(buffer) >= flush_at:
                self._spill(index)

    def seal(self, through: int) -> None:
        """Writes every month up to `through`: nothing more may arrive in them."""
        for index in range(self._sealed, through + 1):
            self._spill(index)
        self._sealed = max(self._sealed, through + 1)

    def take(self, index: int) -> list[Item]:
        """A month's items, sorted; months are taken in order, each once."""
        if index != self._sealed:
            raise RuntimeError(f"months are taken in order: expected {self._sealed}, got {index}")
        items = load_month(self._directory, [self._name], index)
        items += self._buffers[index]
        self._buffers[index] = []
        self._sealed += 1
        items.sort()
        return items

    def _spill(self, index: int) -> None:
        buffer = self._buffers[index]
        with open(month_path(self._directory, self._name, index), "ab") as fh:
            if buffer:
                # length-prefixed: marshal.load on a file reads in tiny pieces, loads is fast
                chunk = marshal.dumps(buffer)
                fh.write(len(chunk).to_bytes(8, "little"))
                fh.write(chunk)
        self._buffers[index] = []


def month_path(directory: str, name: str, index: int) -> str:
    return os.path.join(directory, f"{name}-arrivals-{index:03d}.marshal")


def load_month(directory: str, names: Iterable[str], index: int) -> list[Item]:
    """Every item the named writers spilled for a month, unsorted; the files are removed."""
    items: list[Item] = []
    for name in names:
        path = month_path(directory, name, index)
        try:
            with open(path, "rb") as fh:
                data = memoryview(fh.read())
        except FileNotFoundError:
            continue
        at = 0
        while at < len(data):
            size = int.from_bytes(data[at:at + 8], "little")
            items += marshal.loads(data[at + 8:at + 8 + size])
            at += 8 + size
        os.remove(path)
    return items
