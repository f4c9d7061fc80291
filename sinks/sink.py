"""The ClickHouse sink: lifecycle events, alerts, notifications and child state, landed.

One consumer (group `sink.group_id`) reads the four topics. Each record goes into the
batch of its (topic, partition): as a row, as nothing (a clock tick, a tombstone), or as a
dead letter (a record it cannot decode, or of a type that does not belong on the topic).
A batch is due when it holds `sink.batch_rows` rows or its first record has waited
`sink.batch_seconds`.

Each round, in this order (the crash semantics follow from it):

1. consume what is there into the batches;
2. for each due batch, in turn: record its offset range in the ledger, then insert its
   rows, both with deduplication tokens derived from the range (sinks/writer.py). This
   round runs on a writer thread while step 1 goes on; one round at a time;
3. once the round is written: flush the dead letters to Kafka;
4. commit, synchronously, the offset after each batch of the round.

- Killed before 2: nothing was written; the records are read again from the committed
  offset.
- Killed during 2 (before or during an insert): the ledger holds the batch's range. On
  restart (partition assignment) the ranges at or after the committed offset are formed
  again, record for record, and written with the same tokens: ClickHouse drops the blocks
  it already has and writes the ones a killed insert did not finish.
- Killed during 3: dead letters may be sent twice (they carry topic:partition:offset).
- Killed during 4: as during 2; every replayed insert is dropped as a duplicate.
- ClickHouse unreachable: the batch is retried with exponential back-off (ceiling
  `sink.retry_max_s`) and nothing is committed until it is written. The consumer's
  max.poll.interval is long so that an outage does not cost the partitions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from ucwatch.core import deadletter
from ucwatch.core.deadletter import DeadLetterWriter
from ucwatch.core.errors import ContractError, DeliveryError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.errors import ClickHouseUnavailable
from ucwatch.sinks.ledger import Intent
from ucwatch.sinks.rows import ALERTS, CHILD_STATE, EVENTS, NOTIFICATIONS, SKIPPED_NAMES, Row, Target, short_name
from ucwatch.sinks.writer import BatchWriter

log = logging.getLogger("ucwatch.sink")

CONSUME_BATCH = 5_000
CONSUME_TIMEOUT_S = 0.2
MAX_POLL_INTERVAL_MS = 24 * 3600 * 1000
COMPACT_EVERY_S = 600.0
"""While idle, the report's per-child aggregate is merged into one part at most this often."""
MEMORY_BATCHES = 3
"""Rows held across all partitions, in units of `sink.batch_rows`, before all are written."""

Key = tuple[str, int]


@dataclass
class SinkStats:
    rows: dict[str, int] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    replayed_batches: int = 0
    retries: int = 0


def topic_targets(settings: Settings) -> dict[str, Target]:
    topics = settings.topics
    return {topics.lifecycle.name: EVENTS, topics.alerts.name: ALERTS,
            topics.notifications.name: NOTIFICATIONS, topics.child_state.name: CHILD_STATE}


class Sink:
    def __init__(self, settings: Settings, writer_client: Any, *,
                 stop: threading.Event | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._targets = topic_targets(settings)
        self._writer = BatchWriter(writer_client, settings.clickhouse.database,
                                   {t.table: t for t in self._targets.values()}, self._refused_row)
        catalog = default_catalog()
        self._decoder = Decoder(registry_for(settings.schema_registry.url, catalog), catalog,
                                logical_types=False)
        self._stop = stop or threading.Event()
        self._sleep = sleep
        self._consumer = Consumer({
            **client_config(settings), "group.id": settings.sink.group_id,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "isolation.level": "read_committed",
            "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
            "session.timeout.ms": settings.sink.session_timeout_ms,
            **({"group.instance.id": settings.sink.instance_id} if settings.sink.instance_id else {})})
        self._deadletters = DeadLetterWriter(
            Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                      "linger.ms": 20}),
            settings.topics.deadletter.name)
        self._batches: dict[Key, Batch] = {}
        self._ready: list[Batch] = []
        self._replays: dict[Key, deque[Intent]] = {}
        self._assigned: set[Key] = set()
        self._at_end: set[Key] = set()
        # Writes run on one thread of their own while this one consumes and decodes (chDB
        # and the network release the GIL); one round at a time keeps each partition's
        # ledger entry after its previous batch's insert.
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ucwatch-sink-writer")
        self._round: tuple[Future[None], list[Batch]] | None = None
        self._events_since_compaction = 0
        self._compacted_at = time.monotonic()
        self.stats = SinkStats()

    # -- the loop -------------------------------------------------------------------------
    def run(self, until_caught_up: bool = False) -> SinkStats:
        """Lands records until stopped (or, with `until_caught_up`, until every partition is
        read to its end and written)."""
        self._consumer.subscribe(list(self._targets), on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._stop.is_set():
                for message in self._consumer.consume(CONSUME_BATCH, CONSUME_TIMEOUT_S):
                    self._take(message)
                self._write_due(force=False)
                if self.caught_up():
                    self._compact_when_due(at_end=until_caught_up)
                    if until_caught_up:
                        break
            self._write_due(force=True)
        finally:
            self._writer_thread.shutdown(wait=True)
            self._consumer.close()
        return self.stats

    def stop(self) -> None:
        self._stop.set()

    def caught_up(self) -> bool:
        return bool(self._assigned) and self._at_end >= self._assigned and not self._batches \
            and not self._ready and self._round is None and not any(self._replays.values())

    # -- assignment -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        for tp in committed:
            key = (tp.topic, tp.partition)
            position = tp.offset if tp.offset >= 0 else None
            intents = self._retrying(lambda: self._writer.ledger.unconfirmed(tp.topic, tp.partition, position))
            if intents:
                self._replays[key] = deque(intents)
                tp.offset = intents[0].first_offset
                log.info("%s:%d: writing %d ledgered batch(es) again from offset %d", tp.topic,
                         tp.partition, len(intents), tp.offset)
            elif position is None:
                tp.offset = OFFSET_BEGINNING
            self._assigned.add(key)
            self._at_end.discard(key)
        consumer.assign(committed)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The round being written is finished and committed while the partitions are still
        # ours. Unwritten batches are dropped: the partition's next owner reads them again
        # from the committed offset.
        self._finish_round(wait=True)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._batches.pop(key, None)
            self._replays.pop(key, None)
            self._assigned.discard(key)
            self._at_end.discard(key)
        self._ready = [b for b in self._ready if (b.topic, b.partition) in self._assigned]

    # -- records --------------------------------------------------------------------------
    def _take(self, message: Any) -> None:
        error = message.error()
        key = (message.topic(), message.partition())
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self._reached_end(key, message.offset())
                return
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer: %s", error)
            return
        self._at_end.discard(key)
        offset = message.offset()
        batch = self._batches.get(key)
        if batch is not None and batch.is_replay() and offset > batch.end_offset:
            self._finish_replay(key)
            batch = None
        if batch is None:
            batch = self._batches[key] = self._new_batch(key, offset)
        batch.add(offset, self._row(message))
        self.stats.records += 1
        if batch.replay_complete():
            self._finish_replay(key)

    def _new_batch(self, key: Key, offset: int) -> Batch:
        table = self._targets[key[0]].table
        replays = self._replays.get(key)
        while replays and replays[0].last_offset < offset:
            replays.popleft()  # its records are gone (a compacted topic): nothing to write
        if replays:
            intent = replays[0]
            return Batch(key[0], key[1], table, first_offset=intent.first_offset,
                         replay_until=intent.last_offset)
        return Batch(key[0], key[1], table, first_offset=offset)

    def _finish_replay(self, key: Key) -> None:
        batch = self._batches.pop(key)
        self._ready.append(batch)
        replays = self._replays.get(key)
        if replays:
            replays.popleft()

    def _reached_end(self, key: Key, end_offset: int) -> None:
        self._at_end.add(key)
        batch = self._batches.get(key)
        if batch is not None and batch.is_replay() and not batch.replay_complete():
            self._finish_replay(key)  # the range's tail was compacted away
        replays = self._replays.get(key)
        while replays and replays[0].first_offset >= end_offset:
            replays.popleft()

    def _row(self, message: Any) -> Row | None:
        value = message.value()
        if value is None:
            self.stats.skipped += 1  # a tombstone on the compacted child-state topic
            return None
        target = self._targets[message.topic()]
        try:
            name, record = self._decoder.decode_named(value)
        except ContractError as exc:
            self._dead_letter(message, exc.code, exc.message)
            return None
        name = short_name(name)
        if name in target.record_names:
            row = target.to_row(record, name)
            row += (message.partition(), message.offset())
            return row
        if name in SKIPPED_NAMES:
            self.stats.skipped += 1
            return None
        self._dead_letter(message, "unexpected_record_type",
                          f"a {name} record does not belong on {message.topic()} (lands in {target.table})")
        return None

    # -- writing --------------------------------------------------------------------------
    def _write_due(self, force: bool) -> None:
        """Starts a round of writes when batches are due; `force` writes everything now."""
        sink = self._settings.sink
        self._finish_round(wait=force)
        held = sum(len(b.rows) for b in self._batches.values())
        over_memory = held > MEMORY_BATCHES * sink.batch_rows
        if self._round is not None:
            if not over_memory:
                return
            self._finish_round(wait=True)  # back-pressure: consume no more until it is written
        now = time.monotonic()
        due = self._ready
        self._ready = []
        for key, batch in list(self._batches.items()):
            # A replayed range is written whole or not at all: part of it under its token
            # would make ClickHouse drop the rest later.
            if ((force or over_memory) and not batch.is_replay()) \
                    or batch.due(sink.batch_rows, sink.batch_seconds, now):
                due.append(self._batches.pop(key))
        if due:
            self._round = (self._writer_thread.submit(self._write_round, due), due)
            self._finish_round(wait=force)

    def _write_round(self, due: list[Batch]) -> None:
        """Step 2, on the writer thread: one batch after another, each ledger then insert."""
        for batch in due:
            self._retrying(lambda: self._writer.write(batch))
            self._count(batch)

    def _finish_round(self, wait: bool) -> None:
        """Steps 3 and 4, on the consumer's thread, once the round's writes are done."""
        if self._round is None:
            return
        future, due = self._round
        if not wait and not future.done():
            return
        self._round = None
        future.result()  # a write that failed for good stops the sink here
        self._retrying(self._flush_dead_letters)
        next_offsets = {(b.topic, b.partition): b.end_offset + 1 for b in due
                        if (b.topic, b.partition) in self._assigned}
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
        if offsets:
            self._retrying(lambda: self._consumer.commit(offsets=offsets, asynchronous=False))

    def _compact_when_due(self, at_end: bool) -> None:
        """Once idle with new events landed: at the end of a run, or at most every
        COMPACT_EVERY_S while it runs."""
        if self._events_since_compaction == 0:
            return
        if not at_end and time.monotonic() - self._compacted_at < COMPACT_EVERY_S:
            return
        cluster = self._settings.clickhouse.cluster
        self._retrying(lambda: self._writer.compact(f"ON CLUSTER '{cluster}'" if cluster else ""))
        self._events_since_compaction = 0
        self._compacted_at = time.monotonic()

    def _count(self, batch: Batch) -> None:
        self.stats.batches += 1
        self.stats.replayed_batches += batch.is_replay()
        self.stats.rows[batch.table] = self.stats.rows.get(batch.table, 0) + len(batch.rows)
        if batch.table == EVENTS.table:
            self._events_since_compaction += len(batch.rows)

    def _retrying(self, action: Callable[[], Any]) -> Any:
        delay = 0.5
        while True:
            try:
                return action()
            except (ClickHouseUnavailable, DeliveryError, KafkaException) as exc:
                if isinstance(exc, KafkaException) and exc.args and exc.args[0].fatal():
                    raise
                if self._stop.is_set() and self.stats.retries > 0:
                    raise
                self.stats.retries += 1
                log.warning("%s; retrying in %.1f s (nothing is committed meanwhile)", exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, self._settings.sink.retry_max_s)

    # -- dead letters ---------------------------------------------------------------------
    def _dead_letter(self, message: Any, code: str, reason: str) -> None:
        self._deadletters.send(deadletter.for_record(
            reason_code=code, reason=reason, stage="sink", topic=message.topic(),
            partition=message.partition(), offset=message.offset(), value=message.value(),
            key=message.key()))
        self.stats.dead_lettered += 1

    def _refused_row(self, batch: Batch, row: Row, reason: str) -> None:
        # the row's record stays on its topic; its position is what finds it
        self._deadletters.send(deadletter.for_record(
            reason_code="refused_by_clickhouse", reason=reason, stage="sink", topic=batch.topic,
            partition=row[-2], offset=row[-1], value=repr(row).encode("utf-8", "replace"), key=None))
        self.stats.dead_lettered += 1

    def _flush_dead_letters(self) -> None:
        failures = self._deadletters.flush(30)
        if failures:
            raise DeliveryError(len(failures), failures[0])
