"""The ClickHouse sink: lifecycle events, alerts, notifications, child state, the
console's actions and the audit trail, landed.

One consumer (group `sink.group_id`) reads the landed topics (sinks/rows.py,
`topic_targets`), through sinks/consumer.py. Each record goes into the
batch of its (topic, partition) (sinks/partition.py): as a row, as nothing (a clock tick,
a tombstone), or as a dead letter (a record it cannot decode, or of a type that does not
belong on the topic). A batch is due when it holds `sink.batch_rows` rows or its first
record has waited `sink.batch_seconds`; after a restart, where batches begin and end is
the ledger's decision (sinks/replay.py).

Each pass of the loop, in this order (the crash semantics follow from it):

1. consume what is there into the batches;
2. once the previous round is written, start the next: for each due batch in turn, record
   its offset range in the ledger, then insert its rows, both with deduplication tokens
   derived from the range (sinks/writer.py), on a thread of its own while step 1 goes on
   (sinks/rounds.py);
3. once a round is written: dead-letter the rows ClickHouse refused, and wait, without
   blocking the loop, until Kafka acknowledged every dead letter sent (sinks/deadletters.py);
4. then commit, asynchronously, the offset after each batch of the round (sinks/commits.py).

- Killed before 2: nothing was written; the records are read again from the committed
  offset.
- Killed during 2 (before or during an insert): the ledger holds the batch's range. On
  restart (partition assignment) the ranges at or after the committed offset are formed
  again, record for record, and written with the same tokens: ClickHouse drops the blocks
  it already has and writes the ones a killed insert did not finish; rows a stale
  deduplication entry made it drop are then found missing and inserted (sinks/writer.py).
- Killed during 3: dead letters may be sent twice (they carry topic:partition:offset).
- Killed during 4, or a commit refused: as during 2; every replayed insert is dropped as a
  duplicate. A commit is never retried blindly and never blocks the loop, so the consumer
  keeps polling and rejoins its group by itself after a broker outage.
- ClickHouse unreachable: the round is retried with exponential back-off (ceiling
  `sink.retry_max_s`) and nothing after it is committed until it is written.
- Stopped (SIGTERM): the batches held are written if ClickHouse answers within a few
  seconds, then dead letters and offsets are settled as far as Kafka answers; what is not
  committed is read again on the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from ucwatch.core.retry import RetryExhausted
from ucwatch.core.settings import Settings
from ucwatch.schemas.serde import Decoder
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.clients import KafkaClients
from ucwatch.sinks.compaction import CompactionSchedule
from ucwatch.sinks.conditions import Condition
from ucwatch.sinks.consumer import GroupConsumer, is_fatal
from ucwatch.sinks.deadletters import DeadLetters
from ucwatch.sinks.metrics import SinkMetrics
from ucwatch.sinks.partition import PartitionBatches
from ucwatch.sinks.records import RecordRows, default_decoder
from ucwatch.sinks.replay import Range, plan
from ucwatch.sinks.retrying import waited_for, while_unavailable
from ucwatch.sinks.rounds import Round
from ucwatch.sinks.rows import EVENTS, topic_targets
from ucwatch.sinks.writer import Refused

log = logging.getLogger("ucwatch.sink")

CONSUME_BATCH = 5_000
CONSUME_TIMEOUT_S = 0.2
MEMORY_BATCHES = 3
"""Rows held across all partitions, in units of `sink.batch_rows`, before all are written."""
SHUTDOWN_WAIT_S = 5.0
"""On stop: how long the last writes, and then Kafka's acknowledgements, may take."""

Key = tuple[str, int]
T = TypeVar("T")


class Store(Protocol):
    """Where batches land (sinks/writer.py's BatchWriter; tests give an in-memory one)."""

    def write(self, batch: Batch) -> list[Refused]: ...

    def ranges(self, topic: str, partition: int, since: int) -> list[Range]: ...

    def compact(self, on_cluster: str = "") -> None: ...


@dataclass
class SinkStats:
    rows: dict[str, int] = field(default_factory=dict)
    """Rows written per table, those written again after a restart included."""
    records: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    replayed_batches: int = 0
    commits_dropped: int = 0
    consumers_renewed: int = 0


class Sink:
    def __init__(self, settings: Settings, store: Store, kafka: KafkaClients, *,
                 decoder: Decoder | None = None, stop: threading.Event | None = None,
                 metrics: SinkMetrics | None = None) -> None:
        self._settings = settings
        self.metrics = metrics or SinkMetrics()
        self.held: tuple[Key, ...] = ()
        """The partitions held, as a snapshot other threads may read (lag, readiness)."""
        self._targets = topic_targets(settings)
        self._store = store
        self._stop = stop or threading.Event()
        self._clickhouse = Condition("ClickHouse", log)
        self._group = GroupConsumer(kafka, list(self._targets), on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_lost, stop=self._stop,
                                    rejoin_wait_s=settings.sink.rejoin_wait_s)
        self._letters = DeadLetters(kafka.deadletter_producer(), settings.topics.deadletter.name)
        self._rows = RecordRows(self._targets, self._letters, decoder or default_decoder(settings))
        self._partitions: dict[Key, PartitionBatches] = {}
        self._ready: list[Batch] = []
        self._round: Round | None = None
        self._compaction = CompactionSchedule()
        self._closing = False
        self.stats = SinkStats()

    # -- the loop -------------------------------------------------------------------------
    def run(self, until_caught_up: bool = False) -> SinkStats:
        """Lands records until stopped (or, with `until_caught_up`, until every partition is
        read to its end, written and committed)."""
        self._group.subscribe()
        try:
            while not self._stop.is_set():
                self.metrics.heartbeat.beat()
                for message in self._group.consume(CONSUME_BATCH, CONSUME_TIMEOUT_S):  # 1
                    self._take(message)
                self._finish_round(timeout_s=0)                                       # 3
                self._commit()                                                        # 3, 4
                self._start_round()                                                   # 2
                if self.caught_up():
                    self._compact_when_due(at_end=until_caught_up)
                    if until_caught_up:
                        break
            self._shut_down()
        except RetryExhausted as exc:  # stopped while ClickHouse or Kafka could not be reached
            log.warning("stopped while waiting for %s; nothing unwritten was committed", waited_for(exc))
        finally:
            self._closing = True
            self._group.close()
        self.stats.dead_lettered = self._letters.count
        self.stats.skipped = self._rows.skipped
        self.stats.commits_dropped = self._group.committer.dropped
        self.stats.consumers_renewed = self._group.renewed
        return self.stats

    def stop(self) -> None:
        self._stop.set()

    def ready(self) -> tuple[bool, str]:
        """/readyz: partitions assigned and ClickHouse answering."""
        if not self.held:
            return False, "waiting for the consumer group to assign partitions"
        if self._clickhouse.active:
            return False, "ClickHouse cannot be reached (retrying)"
        return True, f"{len(self.held)} partition(s) held"

    def caught_up(self) -> bool:
        return bool(self._partitions) and all(p.settled() for p in self._partitions.values()) \
            and not self._ready and self._round is None and self._group.committer.idle

    # -- assignment -----------------------------------------------------------------------
    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        if self._closing:
            return
        committed = self._group.committed(partitions)
        for tp in committed:
            position = tp.offset if tp.offset >= 0 else None
            ranges = self._with_clickhouse(partial(self._store.ranges, tp.topic, tp.partition, position or 0))
            replay = plan(position, ranges)
            self._partitions[(tp.topic, tp.partition)] = PartitionBatches(
                tp.topic, tp.partition, self._targets[tp.topic].table, replay.in_doubt)
            tp.offset = OFFSET_BEGINNING if replay.start is None else replay.start
            if replay.in_doubt:
                log.info("%s:%d: %d ledgered batch(es) not committed; reading again from offset %d", tp.topic,
                         tp.partition, len(replay.in_doubt), tp.offset)
        self._group.assign(committed)
        self._held_changed()

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        # The round being written is finished and committed while the partitions are still
        # ours. Unwritten batches are dropped: the next owner reads them again from the
        # committed offset, and the ledger covers those being written.
        keys = [(tp.topic, tp.partition) for tp in partitions if (tp.topic, tp.partition) in self._partitions]
        if keys and not self._closing and self._finish_round(timeout_s=None) \
                and self._letters.settle(SHUTDOWN_WAIT_S):
            self._group.committer.commit_now(keys)
        self._forget(keys)

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        # The group gave the partitions away (the session timed out, or the consumer failed
        # for good): nothing of theirs can be committed now. The round finishes; its ranges
        # are in the ledger.
        keys = [(tp.topic, tp.partition) for tp in partitions]
        if not self._closing:
            log.warning("the group took back %d partition(s); rejoining: their uncommitted batches are "
                        "formed again from the ledger when assigned", len(keys))
            self._finish_round(timeout_s=None)
        self._forget(keys)

    def _forget(self, keys: list[Key]) -> None:
        for key in keys:
            self._partitions.pop(key, None)
        self._group.committer.forget(keys)
        self._ready = [b for b in self._ready if (b.topic, b.partition) in self._partitions]
        self._held_changed()

    def _held_changed(self) -> None:
        self.held = tuple(self._partitions)
        self.metrics.partitions.set(len(self.held))

    # -- records --------------------------------------------------------------------------
    def _take(self, message: Any) -> None:
        error = message.error()
        key = (message.topic(), message.partition())
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                if (part := self._partitions.get(key)) is not None:
                    self._ready += part.reached_end(message.offset())
                return
            if is_fatal(error):
                self._group.failed(error)
            else:
                self._group.condition.failing(f"Kafka: {error.str()}")
            return
        part = self._partitions.get(key)
        if part is None:
            return  # fetched before its partition was revoked
        self._ready += part.add(message.offset(), self._rows.row(message))
        self.stats.records += 1

    # -- writing and committing -----------------------------------------------------------
    def _start_round(self, force: bool = False) -> None:
        """Step 2 when batches are due; `force`: every batch held but a replayed range."""
        sink = self._settings.sink
        over_memory = self._rows_held() > MEMORY_BATCHES * sink.batch_rows
        if self._round is not None:
            if not over_memory:
                return
            if not self._finish_round(timeout_s=None):  # back-pressure: consume no more until written
                return
        now = time.monotonic()
        due, self._ready = self._ready, []
        for part in self._partitions.values():
            if (batch := part.due(sink.batch_rows, sink.batch_seconds, now, force or over_memory)) is not None:
                due.append(batch)
        if due:
            self._round = Round(due, self._write)

    def _write(self, batch: Batch) -> list[Refused]:
        """On the writer thread: one batch, retried while ClickHouse cannot be reached."""
        with self.metrics.insert_seconds.labels(batch.table).time():
            return self._with_clickhouse(partial(self._store.write, batch))

    def _finish_round(self, timeout_s: float | None) -> bool:
        """Step 3 once the round is written (waiting up to `timeout_s`, None: until it is or
        the sink is stopped); True when no round is left."""
        current = self._round
        if current is None:
            return True
        if timeout_s is None:
            while not current.wait(0.5):
                if self._stop.is_set():
                    return False
        elif not current.wait(timeout_s):
            return False
        self._round = None
        for batch, refused in current.result():
            self._letters.refused(batch.topic, refused)
        for batch in current.batches:
            self._count(batch)
        self._group.committer.offer({(b.topic, b.partition): b.end_offset + 1 for b in current.batches
                                     if (b.topic, b.partition) in self._partitions})
        return True

    def _commit(self) -> None:
        """Step 4, once every dead letter so far is acknowledged (step 3)."""
        committer = self._group.committer
        if not committer.idle and not committer.in_flight and self._letters.settle(0):
            committer.send(self._partitions)

    def _compact_when_due(self, at_end: bool) -> None:
        if self._compaction.due(at_end):
            cluster = self._settings.clickhouse.cluster
            self._with_clickhouse(partial(self._store.compact, f"ON CLUSTER '{cluster}'" if cluster else ""))
            self._compaction.done()

    def _with_clickhouse(self, call: Callable[[], T]) -> T:
        return while_unavailable(call, stop=self._stop, max_delay_s=self._settings.sink.retry_max_s,
                                 condition=self._clickhouse, consequence="retrying; nothing after it is committed")

    def _count(self, batch: Batch) -> None:
        self.stats.batches += 1
        self.stats.replayed_batches += batch.is_replay()
        for table, rows in batch.tables():
            self.stats.rows[table] = self.stats.rows.get(table, 0) + len(rows)
            self.metrics.rows.labels(table).inc(len(rows))
        if batch.is_replay():
            self.metrics.replayed.inc()
        if batch.table == EVENTS.table:
            self._compaction.landed(len(batch.rows))

    def _rows_held(self) -> int:
        return sum(p.rows_held for p in self._partitions.values()) + sum(b.row_count for b in self._ready)

    # -- stopping -------------------------------------------------------------------------
    def _shut_down(self) -> None:
        """Writes what is held if ClickHouse answers in time, then settles with Kafka as far
        as it answers in time; anything else is read again on the next start."""
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        written = self._finish_round(timeout_s=SHUTDOWN_WAIT_S)
        if written:
            self._start_round(force=True)
            written = self._finish_round(timeout_s=max(deadline - time.monotonic(), 0.0))
        if not written:
            log.warning("stopping with a write still in progress; it is not committed, and the ledger forms it "
                        "again on the next start")
        if not self._letters.settle(SHUTDOWN_WAIT_S):
            log.warning("stopping before Kafka acknowledged every dead letter; the offsets after them are not "
                        "committed, and the records are read again on the next start")
        elif not self._group.committer.drain(self._partitions, self._poll_only, SHUTDOWN_WAIT_S):
            log.warning("stopping before Kafka confirmed the last offset commit; the ledger forms the "
                        "uncommitted batches again on the next start")

    def _poll_only(self, timeout_s: float) -> None:
        """Serves the consumer's reports while stopping; records fetched now are not taken."""
        self._closing = True
        self._group.consume(CONSUME_BATCH, timeout_s)
