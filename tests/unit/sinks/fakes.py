"""In-memory doubles for the sink: a broker with a consumer group, a dead-letter producer and
a ClickHouse that deduplicates by token and keeps the ledger; nothing is a network.

`FakeBroker` holds the topics (records by offset, with holes where compaction removed
some) and the group's committed offsets; its consumers behave as confluent-kafka's do in
what the sink relies on: rebalance callbacks from `consume`, asynchronous commit reports
on a later `consume`, partition-end events, `committed`/`assign`/`close`. Failures are
injected: commit errors, a lost assignment, ClickHouse down, a "kill" at a chosen point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.errors import ClickHouseUnavailable
from ucwatch.sinks.replay import Range
from ucwatch.sinks.rows import Row
from ucwatch.sinks.writer import Refused

Key = tuple[str, int]


class Killed(BaseException):  # stands for SIGKILL: nothing in the sink catches it
    """The process dies here."""


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None = None
    _key: bytes | None = None
    _error: KafkaError | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self) -> KafkaError | None:
        return self._error


@dataclass
class FakeBroker:
    partitions: dict[str, int]
    records: dict[Key, dict[int, tuple[bytes | None, bytes | None]]] = field(default_factory=dict)
    ends: dict[Key, int] = field(default_factory=dict)
    committed: dict[Key, int] = field(default_factory=dict)
    commit_errors: list[int] = field(default_factory=list)
    """Error codes the next commits fail with, one per commit."""
    commits: list[dict[Key, int]] = field(default_factory=list)
    """Every commit sent, as sent."""
    commit_generations: list[int] = field(default_factory=list)
    """For each commit sent, how many assignments its consumer had received by then."""
    deadletters: list[bytes] = field(default_factory=list)
    answering: bool = True
    """False: metadata requests fail, as while the broker is down."""
    metadata_requests: int = 0

    def produce(self, topic: str, partition: int, value: bytes | None, key: bytes | None = None) -> int:
        tp = (topic, partition)
        offset = self.ends.get(tp, 0)
        self.records.setdefault(tp, {})[offset] = (key, value)
        self.ends[tp] = offset + 1
        return offset

    def compact(self, topic: str, partition: int, offsets: range | list[int]) -> None:
        for offset in offsets:
            self.records.get((topic, partition), {}).pop(offset, None)

    def all_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, count in self.partitions.items() for p in range(count)]


class FakeConsumer:
    def __init__(self, broker: FakeBroker, on_commit: Callable[..., None], on_error: Callable[..., None]) -> None:
        self.broker = broker
        self._on_commit = on_commit
        self._on_error = on_error
        self._callbacks: dict[str, Callable[..., None]] = {}
        self._positions: dict[Key, int] = {}
        self._eof_sent: set[Key] = set()
        self._reports: list[tuple[KafkaError | None, list[TopicPartition]]] = []
        self._events: list[str] = []
        self.closed = False
        self.polls = 0
        self.generation = 0
        self.fatal_pending = False
        self.fatal_at_poll: int | None = None
        self.lost_for_good_at_poll: int | None = None

    # what the sink calls
    def subscribe(self, topics: list[str], *, on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self._events.append("assign")

    def consume(self, count: int, timeout: float) -> list[FakeMessage]:
        self.polls += 1
        reports, self._reports = self._reports, []
        for error, partitions in reports:
            self._on_commit(error, partitions)
        if self.polls == self.lost_for_good_at_poll:
            self.lose_assignment(assign_again=False)
        while self._events:
            event = self._events.pop(0)
            if event == "lose":
                held = self.assignment()
                self._positions.clear()
                self._callbacks["lost"](self, held)
            elif event == "assign":
                self._callbacks["assign"](self, self.broker.all_partitions())
        out: list[FakeMessage] = []
        if self.fatal_pending or self.polls == self.fatal_at_poll:
            # librdkafka hands a fatal error to a consumer as an error event on its queue: the
            # code is _FATAL and the Python error's fatal() flag is not set
            self.fatal_pending = False
            self._positions.clear()
            return [FakeMessage("", -1, -1, _error=KafkaError(KafkaError._FATAL, "fenced (fake)"))]
        for key, start in list(self._positions.items()):
            position, end = start, self.broker.ends.get(key, 0)
            while position < end and len(out) < count:
                record = self.broker.records.get(key, {}).get(position)
                if record is not None:
                    out.append(FakeMessage(key[0], key[1], position, record[1], record[0]))
                position += 1
            self._positions[key] = position
            if position >= end and key not in self._eof_sent and len(out) < count:
                self._eof_sent.add(key)
                out.append(FakeMessage(key[0], key[1], end, _error=KafkaError(KafkaError._PARTITION_EOF)))
        return out

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.broker.committed.get((tp.topic, tp.partition),
                                                                                 OFFSET_INVALID))
                for tp in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._positions[key] = 0 if tp.offset in (OFFSET_BEGINNING, OFFSET_INVALID) else tp.offset
            self._eof_sent.discard(key)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self._positions]

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        sent = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        self.broker.commits.append(sent)
        self.broker.commit_generations.append(self.generation)
        error = KafkaError(self.broker.commit_errors.pop(0)) if self.broker.commit_errors else None
        if error is None:
            self.broker.committed.update(sent)
        if not asynchronous:
            if error is not None:
                raise KafkaException(error)
            return
        self._reports.append((error, [TopicPartition(t, p, o) for (t, p), o in sent.items()]))

    def list_topics(self, *, timeout: float) -> object:
        self.broker.metadata_requests += 1
        if not self.broker.answering:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down (fake)"))
        return object()

    def close(self) -> None:
        if self._positions and not self.closed:
            self._callbacks["revoke"](self, self.assignment())
        self._positions.clear()
        self.closed = True

    # what tests call
    def fail_for_good(self) -> None:
        """A fatal error, e.g. this static member fenced by its own rejoin after an outage."""
        self.fatal_pending = True

    def lose_assignment(self, *, assign_again: bool = True) -> None:
        """The group takes the partitions back (a session timeout) and gives them again, or
        never does (librdkafka #3437: a static member whose session expired)."""
        self._events += ["lose", "assign"] if assign_again else ["lose"]


class FakeProducer:
    """The dead-letter producer: delivered on flush unless `down` (then nothing is)."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.down = False
        self._queued: list[tuple[bytes, Callable[..., None]]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None, *, headers: Any = None,
                on_delivery: Callable[..., None]) -> None:
        self._queued.append((value, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        if self.down:
            return len(self._queued)
        queued, self._queued = self._queued, []
        for value, on_delivery in queued:
            self.broker.deadletters.append(value)
            on_delivery(None, None)
        return 0

    def __len__(self) -> int:
        return len(self._queued)


class FakeKafka:
    """The sink's client factory, over one FakeBroker."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.consumers: list[FakeConsumer] = []
        self.producer = FakeProducer(broker)
        self.first_consumer_fails_at_poll: int | None = None
        """The first consumer gets a fatal error on this poll (a fenced static member)."""
        self.first_consumer_lost_for_good_at_poll: int | None = None
        """The group takes the first consumer's partitions back on this poll and never
        assigns it anything again."""

    def consumer(self, on_commit: Callable[..., None], on_error: Callable[..., None]) -> FakeConsumer:
        self.consumers.append(FakeConsumer(self.broker, on_commit, on_error))
        if len(self.consumers) == 1:
            self.consumers[0].fatal_at_poll = self.first_consumer_fails_at_poll
            self.consumers[0].lost_for_good_at_poll = self.first_consumer_lost_for_good_at_poll
        return self.consumers[-1]

    def deadletter_producer(self) -> FakeProducer:
        return self.producer


@dataclass
class FakeStore:
    """ClickHouse as the sink sees it: rows deduplicated by token, and the ledger."""
    rows: dict[str, list[Row]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    ledger: list[tuple[str, int, int, int, str]] = field(default_factory=list)
    down: bool = False
    kill_after_ledger: int | None = None
    """Dies after this many ledger entries were written, before the insert."""
    kill_after_insert: int | None = None
    """Dies after this many inserts, before the sink hears of it."""
    inserts: int = 0
    attempts: int = 0
    compactions: int = 0

    def write(self, batch: Batch) -> list[Refused]:
        self.attempts += 1
        if self.down:
            raise ClickHouseUnavailable("ClickHouse cannot be reached (fake)")
        if not batch.rows:
            return []
        if not batch.is_replay():
            entry = (batch.topic, batch.partition, batch.first_offset, batch.end_offset, batch.token)
            if entry not in self.ledger:
                self.ledger.append(entry)
            if self.kill_after_ledger is not None and len(self.ledger) >= self.kill_after_ledger:
                self.kill_after_ledger = None
                raise Killed
        if batch.token not in self.tokens:
            self.tokens.add(batch.token)
            self.rows.setdefault(batch.table, []).extend(batch.rows)
        self.inserts += 1
        if self.kill_after_insert is not None and self.inserts >= self.kill_after_insert:
            self.kill_after_insert = None
            raise Killed
        return []

    def ranges(self, topic: str, partition: int, since: int) -> list[Range]:
        return sorted(Range(first, last) for t, p, first, last, _ in self.ledger
                      if (t, p) == (topic, partition) and last >= since)

    def compact(self, on_cluster: str = "") -> None:
        self.compactions += 1

    def landed(self, table: str) -> list[tuple[int, int]]:
        """(partition, offset) of every row of `table`, sorted."""
        return sorted((int(row[-2]), int(row[-1])) for row in self.rows.get(table, []))
