"""The delivery state machine, without Kafka, sockets or threads.

It is told what the consumer read (`take`, `refuse`), what an attempt gave (`attempted`)
and, through callbacks, what the broker acknowledged; it says what to attempt now (`due`)
and what to commit (`to_commit`). Writes go through an `Outbox`, so the tests drive it
with in-memory doubles and check the order of effects exactly.

One delivery is one notice to one endpoint of its recipient. Its states:

    WAITING --due--> SENDING --delivered--> LOGGING ---------------------acked--> DONE
       ^                |--failed, budget left: FAILED logged-- back to WAITING
       |                '--failed for good: FAILED logged --acked--> ESCALATING
       |                     dead letter + alert --both acked--> GAVE_UP logged --acked--> DONE
       '-- (taken: after the log's last failure plus the back-off, or at once)

A notice is finished when all its deliveries are DONE; only then may its offset be
committed (`offsets.PartitionProgress`). What the log already says final about an
endpoint is not attempted again; a notice seen twice while open is delivered once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from ucwatch.core.deadletter import DeadLetter
from ucwatch.core.pseudonym import is_synthetic_token
from ucwatch.notify import undelivered
from ucwatch.notify.budget import RetryBudget
from ucwatch.notify.delivery import AttemptResult, Channel, Endpoint, LogEntry, Outcome, Source
from ucwatch.notify.history import History
from ucwatch.notify.offsets import PartitionProgress

log = logging.getLogger("ucwatch.notify")


class Outbox(Protocol):
    def write_log(self, entry: LogEntry, acked: Callable[[int], None]) -> None:
        """Produce `entry` to delivery-log partition `entry.notice_partition`;
        `acked(log_offset)` once the broker has it."""

    def write_dead_letter(self, letter: DeadLetter, acked: Callable[[], None]) -> None: ...

    def write_alert(self, record: dict[str, Any], acked: Callable[[], None]) -> None: ...


class Observer(Protocol):
    """Metrics and the log lines of conditions (notify/observe.py)."""

    def attempted(self, endpoint: Endpoint, result: AttemptResult, duration_s: float, age_s: float) -> None: ...

    def gave_up(self, endpoint: Endpoint, text: str) -> None: ...

    def skipped(self, endpoint: Endpoint) -> None: ...


class State(Enum):
    WAITING = "waiting"
    SENDING = "sending"
    LOGGING = "logging"
    ESCALATING = "escalating"
    DONE = "done"


@dataclass(eq=False)
class Notice:
    record: dict[str, Any]
    source: Source
    offsets: list[int]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def notice_id(self) -> str:
        return str(self.record["notification_id"])


@dataclass(eq=False)
class Delivery:
    notice: Notice
    endpoint: Endpoint
    partition: _Partition
    attempts: int = 0
    last_failure: LogEntry | None = None
    state: State = State.WAITING
    due_ms: int = 0


@dataclass(eq=False)
class _Partition:
    progress: PartitionProgress
    history: History
    open: dict[str, Notice] = field(default_factory=dict)


class Coordinator:
    def __init__(self, endpoints: Mapping[str, Sequence[Endpoint]], budget: RetryBudget, outbox: Outbox,
                 observer: Observer, *, clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 rng: random.Random | None = None, history_size: int = 100_000) -> None:
        self._endpoints = endpoints
        self._budget = budget
        self._outbox = outbox
        self._observer = observer
        self._clock_ms = clock_ms
        self._rng = rng or random.Random()
        self._history_size = history_size
        self._partitions: dict[int, _Partition] = {}
        self._waiting: list[tuple[int, int, Delivery]] = []
        self._sequence = itertools.count()

    # -- partitions -----------------------------------------------------------------------
    def assign(self, partition: int, committed: int, log_end: int,
               log_records: Sequence[tuple[int, LogEntry]] = ()) -> None:
        """Takes over `partition` from its committed offset; `log_records` are (log offset,
        entry) read from the delivery log from the commit's log start to `log_end`."""
        part = _Partition(PartitionProgress(committed, log_end), History(self._history_size))
        for log_offset, entry in log_records:
            if entry.notice_offset >= part.progress.committed:
                part.history.add(entry)
                part.progress.logged(entry.notice_offset, log_offset)
        self._partitions[partition] = part

    def revoke(self, partition: int) -> None:
        """Forgets the partition; attempts and acknowledgements still under way for it are
        ignored when they come back (its next owner reads the log and delivers again)."""
        self._partitions.pop(partition, None)

    def owns(self, partition: int) -> bool:
        return partition in self._partitions

    @property
    def partitions(self) -> list[int]:
        return sorted(self._partitions)

    @property
    def pending(self) -> int:
        """Notices (and refused records) taken and not finished, over all partitions."""
        return sum(part.progress.open for part in self._partitions.values())

    # -- input ----------------------------------------------------------------------------
    def take(self, source: Source, record: dict[str, Any]) -> None:
        part = self._partitions[source.partition]
        part.progress.taken(source.offset)
        notice_id = str(record["notification_id"])
        same = part.open.get(notice_id)
        if same is not None:  # the same notice again while it is being delivered
            same.offsets.append(source.offset)
            return
        notice = Notice(record, source, [source.offset])
        part.open[notice_id] = notice
        known = part.history.of(notice_id)
        recipient = str(record["recipient"])
        for endpoint in self._endpoints.get(recipient) or [Endpoint.unconfigured(recipient)]:
            seen = known.get(endpoint.name)
            if seen is not None and seen.final is not None:
                self._observer.skipped(endpoint)
                continue
            delivery = Delivery(notice, endpoint, part)
            if seen is not None:
                delivery.attempts, delivery.last_failure = seen.attempts, seen.last_failure
            notice.deliveries.append(delivery)
        for delivery in notice.deliveries:
            if delivery.endpoint.channel is Channel.NONE:
                self._escalate(delivery, f"no endpoint is configured for {recipient}")
            elif self._budget.spent(delivery.attempts):  # spent before a restart
                self._escalate(delivery, None)
            else:
                last = delivery.last_failure
                delivery.due_ms = self._clock_ms() if last is None else \
                    last.at_ms + int(1000 * self._budget.delay_before(delivery.attempts + 1, self._rng))
                self._wait(delivery)
        self._finish_if_done(notice)

    def refuse(self, source: Source, letter: DeadLetter) -> None:
        """A record that is not a notice: dead-lettered, then finished."""
        part = self._partitions[source.partition]
        part.progress.taken(source.offset)

        def acked() -> None:
            if self._partitions.get(source.partition) is part:
                part.progress.finished(source.offset)

        self._outbox.write_dead_letter(letter, acked)

    # -- attempts -------------------------------------------------------------------------
    def due(self) -> list[Delivery]:
        """Deliveries whose attempt is due now; they are SENDING until `attempted`."""
        now = self._clock_ms()
        ready = []
        while self._waiting and self._waiting[0][0] <= now:
            _, _, delivery = heapq.heappop(self._waiting)
            if delivery.state is State.WAITING and self._alive(delivery):
                delivery.state = State.SENDING
                ready.append(delivery)
        return ready

    def next_due_ms(self) -> int | None:
        while self._waiting and not (self._waiting[0][2].state is State.WAITING and self._alive(self._waiting[0][2])):
            heapq.heappop(self._waiting)
        return self._waiting[0][0] if self._waiting else None

    def attempted(self, delivery: Delivery, result: AttemptResult, started_ms: int, ended_ms: int) -> None:
        if delivery.state is not State.SENDING or not self._alive(delivery):
            return
        delivery.attempts += 1
        source = delivery.notice.source
        self._observer.attempted(delivery.endpoint, result, (ended_ms - started_ms) / 1000,
                                 (ended_ms - source.timestamp_ms) / 1000)
        entry = self._entry(delivery, Outcome.DELIVERED if result.delivered else Outcome.FAILED,
                            attempt=delivery.attempts, status_code=result.status_code, detail=result.detail,
                            at_ms=ended_ms)
        if result.delivered:
            delivery.state = State.LOGGING
            self._write_log(delivery, entry, lambda: self._done(delivery))
            return
        delivery.last_failure = entry
        if result.permanent or self._budget.spent(delivery.attempts):
            delivery.state = State.ESCALATING
            self._write_log(delivery, entry, lambda: self._escalate(delivery, None))
        else:
            delay_s = self._budget.delay_before(delivery.attempts + 1, self._rng)
            delivery.due_ms = ended_ms + int(1000 * delay_s)
            self._wait(delivery)
            self._write_log(delivery, entry, None)

    # -- commits --------------------------------------------------------------------------
    def to_commit(self) -> dict[int, tuple[int, str]]:
        """partition -> (offset, metadata) for each partition whose commit point moved."""
        due = {}
        for partition, part in self._partitions.items():
            commit = part.progress.to_commit()
            if commit is not None:
                due[partition] = commit
        return due

    def positions(self) -> dict[int, int]:
        """partition -> the offset a commit now would store (for the lag)."""
        return {partition: part.progress.commit_point() for partition, part in self._partitions.items()}

    def committed(self, partition: int, offset: int) -> None:
        part = self._partitions.get(partition)
        if part is not None:
            part.progress.committed_at(offset)

    # -- internals ------------------------------------------------------------------------
    def _alive(self, delivery: Delivery) -> bool:
        return self._partitions.get(delivery.notice.source.partition) is delivery.partition

    def _wait(self, delivery: Delivery) -> None:
        delivery.state = State.WAITING
        heapq.heappush(self._waiting, (delivery.due_ms, next(self._sequence), delivery))

    def _entry(self, delivery: Delivery, outcome: Outcome, *, attempt: int, status_code: int | None,
               detail: str, at_ms: int) -> LogEntry:
        notice, endpoint = delivery.notice, delivery.endpoint
        child_id = str(notice.record["child_id"])
        return LogEntry(notice.notice_id, child_id, endpoint.recipient, str(notice.record.get("kind", "")),
                        endpoint.name, endpoint.channel, attempt, outcome, status_code, detail, at_ms,
                        notice.source.partition, notice.source.offset, is_synthetic_token(child_id))

    def _write_log(self, delivery: Delivery, entry: LogEntry, then: Callable[[], None] | None) -> None:
        def acked(log_offset: int) -> None:
            if not self._alive(delivery):
                return
            delivery.partition.progress.logged(entry.notice_offset, log_offset)
            delivery.partition.history.add(entry)
            if then is not None:
                then()

        self._outbox.write_log(entry, acked)

    def _escalate(self, delivery: Delivery, why: str | None) -> None:
        """Dead letter and alert first; the GAVE_UP record only once both are acknowledged,
        so that a log that says GAVE_UP always has them behind it."""
        if not self._alive(delivery):
            return
        delivery.state = State.ESCALATING
        notice, endpoint, last = delivery.notice, delivery.endpoint, delivery.last_failure
        detail = why or (last.detail if last is not None else "retry budget spent")
        text = undelivered.reason(notice.record, endpoint, delivery.attempts, detail)
        at_ms = last.at_ms if last is not None else notice.source.timestamp_ms
        self._observer.gave_up(endpoint, text)
        waiting = [2]

        def one_acked() -> None:
            waiting[0] -= 1
            if waiting[0] == 0 and self._alive(delivery):
                entry = self._entry(delivery, Outcome.GAVE_UP, attempt=delivery.attempts,
                                    status_code=last.status_code if last is not None else None,
                                    detail=detail, at_ms=at_ms)
                self._write_log(delivery, entry, lambda: self._done(delivery))

        self._outbox.write_dead_letter(undelivered.dead_letter(notice.source, text), one_acked)
        self._outbox.write_alert(undelivered.alert_record(notice.record, endpoint, text, at_ms), one_acked)

    def _done(self, delivery: Delivery) -> None:
        delivery.state = State.DONE
        self._finish_if_done(delivery.notice)

    def _finish_if_done(self, notice: Notice) -> None:
        if any(d.state is not State.DONE for d in notice.deliveries):
            return
        part = self._partitions.get(notice.source.partition)
        if part is None or part.open.get(notice.notice_id) is not notice:
            return
        del part.open[notice.notice_id]
        for offset in notice.offsets:
            part.progress.finished(offset)
