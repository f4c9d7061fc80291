"""A batch is written whole or not at all, and in an order a crash cannot break: outputs,
then the children's states, then the partitions' clocks, each step confirmed by Kafka
before the next one starts; a failure leaves the worker before faust can ack or commit
anything of the batch.

faust gives no error for a table write whose changelog record Kafka refuses: the write is
queued (`send_soon`), its failure only logged, and the next commit goes past it. So
`DurableTable` sends its changelog records itself, through the worker's `BatchProducer`
(streams/batch_producer.py), and the glue waits for their acknowledgement (`confirm`)
before the batch ends. A failure anywhere in the batch's writes ends in
`abandon_batch`: log why, then `os._exit`, since faust acks a batch even when its body
raised, and a commit after that would skip records whose state was never written.

`write_states` stores what the processors leave (processor.py, `Writes`). Crash points,
for a worker killed while it runs, as the restarted worker (or the one that takes the
partition over) sees them; it replays from the last committed offset:

1. Killed before the batch's outputs are confirmed: no state of the batch was sent. The
   replay makes the same records again (same ids, same contents).
2. Killed while the states are sent: Kafka holds any subset of them (aiokafka keeps a
   partition's records in order, but the subset does not matter), the clock is the one
   before the batch. Each child is either stored as after the batch (its replayed events
   are repeats and change nothing) or as before it (replayed at the same clocks, so the
   same records again). See processor.py for why.
3. Killed after the states are confirmed, while the clocks are sent: as 2, with every
   state stored. The clock is sent only now, so that a durable clock always means that
   every state of the records which moved it is durable: sent in the same step, a clock
   ahead of the children made the replay apply their events at a later clock (another
   `fired_at`, timers at other instants); and a state record that failed could not keep
   the clock queued after it off Kafka.
4. Killed after the clocks are confirmed, before faust commits: the replay finds every
   event already in its child's history and every wake-up after the clock: it sends
   nothing.
5. Killed after the commit: nothing is replayed.

The local store (RocksDB, which outlives the process) takes each write only once Kafka
acknowledged its changelog record, never before: otherwise a state stored locally but
never on the changelog would make the replay send nothing for it (its events are already
in the local history), and the changelog would lack it for good; a worker taking the
partition over (or a memory store) would restore an older state with the batch committed
past it, and take the repeat of an event already handled as new. Behind the changelog
instead (killed between the acknowledgement and the local write), the local store only
makes the replay derive and send that state again, the same.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import faust
from faust.stores.base import SerializedStore
from faust.streams import _current_event as faust_current_event
from faust.types import TP

from ucwatch.core.exit_codes import ExitCode
from ucwatch.streams.batch_producer import BatchProducer
from ucwatch.streams.compact_store import CompactMemoryStore
from ucwatch.streams.processor import Writes
from ucwatch.streams.state_codec import dumps_row
from ucwatch.streams.table_codec import ROW_SERIALIZER

log = logging.getLogger(__name__)


@contextmanager
def writing_for(event: Any) -> Iterator[None]:
    """Makes table writes go to `event`'s partition (store and changelog).

    faust picks the partition of a table write from the current event, a context variable
    its stream sets per event; take_events does not. Setting only the context variable,
    and restoring it, leaves the stream's own record of its current event alone (it uses
    that one to collect the next batch). faust-streaming 0.15 private API.
    """
    token = faust_current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_current_event.reset(token)


class StateTable(Protocol):
    """Where `write_states` stores: a changelog, and a local store that follows it."""

    def send(self, writes: Mapping[str, Any], event: Any) -> None:
        """Queues a changelog record per write, to `event`'s partition."""

    async def confirm(self, what: str, timeout_s: float) -> None:
        """Waits until Kafka acknowledged the records queued so far; raises if it refused one."""

    def store_locally(self, writes: Mapping[str, Any], event: Any) -> None:
        """Makes writes whose changelog records Kafka acknowledged readable."""


class DurableTable(faust.Table[str, Any]):
    """A faust table whose changelog records go through the worker's `BatchProducer`, and
    whose `send` / `confirm` / `store_locally` split a write in three (see the module's
    docstring). faust restores it from the changelog as any table."""

    logger = logging.getLogger("faust.tables.durable")  # its service chatter is faust's, not ucwatch's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._producer: BatchProducer | None = None
        self._acknowledged: dict[int, int] = {}
        self._sent: dict[str, tuple[bytes, bytes]] = {}
        """key -> (key, value) as sent to the changelog, until stored locally"""

    def send_through(self, producer: BatchProducer) -> None:
        self._producer = producer

    def send(self, writes: Mapping[str, Any], event: Any) -> None:
        """The changelog half of `table[key] = value` (faust's `on_key_set` and
        `send_changelog`, without the TTL and sensors this table does not use)."""
        assert self._producer is not None, "send_through first"
        topic = self.changelog_topic
        name = topic.get_topic_name()
        with writing_for(event):
            partition = self.partition_for_key(None)
        rows = self.value_serializer == ROW_SERIALIZER
        keep = isinstance(self.data, SerializedStore)   # RocksDB takes these bytes too (store_locally)
        for key, value in writes.items():
            key_bytes = topic.prepare_key(key, self.key_serializer)[0]
            # for rows, what faust's codec chain ends in, without the chain
            value_bytes = dumps_row(value) if rows else topic.prepare_value(value, self.value_serializer)[0]
            self._producer.send(name, key_bytes, value_bytes, partition)
            if keep:
                self._sent[key] = (key_bytes, value_bytes)

    async def confirm(self, what: str, timeout_s: float) -> None:
        assert self._producer is not None, "send_through first"
        name = self.changelog_topic.get_topic_name()
        for (topic, partition), offset in (await self._producer.confirm(what, timeout_s)).items():
            if topic == name:
                self._acknowledged[partition] = max(self._acknowledged.get(partition, -1), offset)

    def rows_of(self, partition: int) -> Iterator[tuple[str, Any]]:
        """The rows the local store holds for one partition, each decoded once. A processor
        starting on a partition rebuilds its timers from them; faust's `items()` would decode
        every partition's rows for each (at national scale, some 228,000 rows per worker)."""
        store: Any = self.data   # faust types it as StoreT, which names none of the private reads below
        if isinstance(store, CompactMemoryStore):
            raw: Iterator[tuple[bytes, bytes]] = store.items_of(partition)
        elif hasattr(store, "_db_for_partition"):   # faust's RocksDB store: a database per partition
            raw = store._visible_items(store._db_for_partition(partition))
        else:   # faust's memory store: objects, of every partition
            yield from ((key, row) for key, row in self.items() if row and row.get("p") == partition)
            return
        for key, value in raw:
            yield store._decode_key(key), store._decode_value(value)

    def store_locally(self, writes: Mapping[str, Any], event: Any) -> None:
        """The store half of `table[key] = value` (for RocksDB, the bytes `send` made: a row
        is encoded once, not again by the store), then, as faust does once a changelog
        record is acknowledged, the offset up to which the local store (RocksDB) holds the
        changelog, so a restart restores only what came after it."""
        store, sent = self.data, self._sent
        with writing_for(event):
            if isinstance(store, SerializedStore):  # RocksDB: the changelog's bytes, as a restore writes them
                for key in writes:
                    store._set(*sent.pop(key))
            else:  # in memory: the objects themselves
                for key, value in writes.items():
                    store[key] = value
        offset = self._acknowledged.pop(event.message.partition, None)
        if offset is not None:
            self.data.set_persisted_offset(TP(self.changelog_topic.get_topic_name(), event.message.partition), offset)


async def write_states(table: StateTable, drained: Sequence[tuple[Writes, Any]], timeout_s: float) -> None:
    """Stores what each processor of the batch left (its `Writes`, with an event of its
    partition): every state, confirmed, then every clock, confirmed; the local store
    takes each step once Kafka acknowledged it. Raises as `confirm` does."""
    await _write_step(table, [(writes.states, event) for writes, event in drained], "state write(s)", timeout_s)
    await _write_step(table, [(writes.clock, event) for writes, event in drained], "clock write(s)", timeout_s)


async def _write_step(table: StateTable, step: list[tuple[dict[str, Any], Any]], what: str, timeout_s: float) -> None:
    for writes, event in step:
        table.send(writes, event)
    await table.confirm(what, timeout_s)
    for writes, event in step:
        table.store_locally(writes, event)


def abandon_batch(records: int, failure: BaseException, *, stopping: bool) -> None:
    """Leaves the process now, so that nothing of an unfinished batch is acked or committed."""
    if stopping and isinstance(failure, asyncio.CancelledError):
        log.warning("stopping in the middle of a batch of %d record(s); it was not committed and "
                    "will be handled again at the next start", records)
        code = ExitCode.OK
    else:
        log.critical("a batch of %d record(s) could not be written (%s: %s); the worker stops without "
                     "committing it and resumes from its last committed offset when restarted",
                     records, type(failure).__name__, failure, exc_info=failure)
        code = ExitCode.UNDELIVERED
    leave_now(code)


def leave_now(code: ExitCode) -> None:
    """Ends the process at once, its log flushed: no faust shutdown, so no ack and no commit."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(code)
