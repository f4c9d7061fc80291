"""An in-memory table store that keeps rows as the changelog's bytes, not as objects.

faust's own memory store keeps every value as the object the worker wrote: for the
children table, a ChildState of some 25 to 40 containers per child, for every child the
worker has seen (about 228,000 per worker on the national history). CPython's cyclic
collector walks all of them in each full collection, with everything else stopped: 10 to
14 s for 3.7 million such objects (docs/detect.md, "The collector's heap"), longer than
the group session. Kept as bytes, a row is one object the collector never looks at
(bytes hold no references), and takes less memory. The states the worker works on stay
objects in the processors' caches (streams/processor.py), a bounded number.

It is a `SerializedStore`, as faust's RocksDB store is: the worker stores the bytes it
sent to the changelog (streams/durable.py), a restore stores the changelog's bytes as
they come, and a read decodes the row. Like faust's memory store it keeps nothing across
restarts (every start restores from the changelog) and drops the rows of partitions that
another worker took, once a recovery ends.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from faust.stores import STORES
from faust.stores.base import SerializedStore
from faust.streams import current_event
from faust.types import TP, EventT

STORE_SCHEME = "ucwatch-memory"
"""The scheme of the store's URL (`ucwatch-memory://`), registered with faust below."""


class CompactMemoryStore(SerializedStore):  # type: ignore[type-arg]  # faust's generics are untyped here
    def __post_init__(self) -> None:
        self._rows: dict[bytes, bytes] = {}
        self._partition_of: dict[bytes, int] = {}

    # the byte-level interface SerializedStore builds the mapping on

    def _get(self, key: bytes) -> bytes | None:
        return self._rows.get(key)

    def _set(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._del(key)
            return
        event = current_event()
        if event is None:
            raise RuntimeError("a table write outside an event: its partition is unknown")
        self._rows[key] = value
        self._partition_of[key] = event.message.partition

    def _del(self, key: bytes) -> None:
        self._rows.pop(key, None)
        self._partition_of.pop(key, None)

    def _iterkeys(self) -> Iterator[bytes]:
        yield from self._rows

    def _itervalues(self) -> Iterator[bytes | None]:
        yield from self._rows.values()

    def _iteritems(self) -> Iterator[tuple[bytes, bytes]]:
        yield from self._rows.items()

    def items_of(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """The rows of one partition, as bytes."""
        rows = self._rows
        for key, owner in self._partition_of.items():
            if owner == partition:
                yield key, rows[key]

    def _size(self) -> int:
        return len(self._rows)

    def _contains(self, key: bytes) -> bool:
        return key in self._rows

    def _clear(self) -> None:
        self._rows.clear()
        self._partition_of.clear()

    # restore and rebalance

    def apply_changelog_batch(self, batch: Iterable[EventT[Any]], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:
        rows, partition_of = self._rows, self._partition_of
        for event in batch:
            message = event.message
            key = message.key
            if key is None:
                raise TypeError(f"a changelog record without a key: {message}")
            if message.value is None:   # a tombstone
                self._del(key)
            else:
                rows[key] = message.value
                partition_of[key] = message.partition

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Drops the rows of partitions this worker no longer has (faust's memory store does
        the same): another worker owns them now, and would restore them if they came back."""
        kept = {tp.partition for tp in active_tps}
        for key in [key for key, partition in self._partition_of.items() if partition not in kept]:
            self._del(key)

    # nothing persists, as in faust's memory store: every start restores from the changelog

    def persisted_offset(self, tp: TP) -> int | None:
        return None

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        return None

    def reset_state(self) -> None:
        return None

    async def backup_partition(self, tp: TP | int, flush: bool = True, purge: bool = False, keep: int = 1) -> None:
        return None

    def restore_backup(self, tp: TP | int, latest: bool = True, backup_id: int = 0) -> None:
        return None


STORES.aliases[STORE_SCHEME] = f"{__name__}:{CompactMemoryStore.__name__}"
