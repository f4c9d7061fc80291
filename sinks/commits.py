"""Step 4 of the sink's order: committing the offsets after written rounds, without ever
blocking the consumer's loop and without retrying blindly.

Commits are asynchronous: the consumer reports each result to `on_commit` during a later
poll, so the loop keeps polling (which is how a consumer rejoins its group) whatever
happens to a commit. Only partitions the consumer holds are committed: once the
assignment is lost, a commit would carry a membership the group no longer knows (and a
fenced static member is a fatal error to librdkafka).

A commit that fails, by its error:

- the membership or the generation is gone (`MEMBERSHIP_GONE`): dropped, never retried.
  The consumer rejoins on its next poll; when the partitions are assigned again, the
  ledger forms the uncommitted ranges again (sinks/replay.py) and ClickHouse drops what it
  already has;
- anything else that is not fatal (the coordinator moving or unreachable): kept, and sent
  again after a back-off together with newer offsets;
- fatal: the consumer raises it itself on its next poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ucwatch.core.retry import Backoff
from ucwatch.sinks.conditions import Condition

log = logging.getLogger("ucwatch.sink")

Key = tuple[str, int]

MEMBERSHIP_GONE = frozenset({
    KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.FENCED_INSTANCE_ID,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError._ASSIGNMENT_LOST, KafkaError.STALE_MEMBER_EPOCH})
NOTHING_TO_COMMIT = KafkaError._NO_OFFSET
RETRY_BACKOFF = Backoff(first_s=0.5, max_s=10.0)


class Committer:
    def __init__(self, consumer: Any, *, backoff: Backoff = RETRY_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._consumer = consumer
        self._backoff = backoff
        self._delays: Iterator[float] = backoff.delays()
        self._clock = clock
        self._pending: dict[Key, int] = {}
        """Offsets to commit (the next offset to read), the highest per partition."""
        self._in_flight: dict[Key, int] | None = None
        self._not_before = 0.0
        self._held = False
        self.condition = Condition("Kafka offset commit", log)
        self.dropped = 0
        """Commits dropped because the membership was gone."""

    @property
    def idle(self) -> bool:
        """Nothing left to commit (and no refused commit waiting for the next assignment)."""
        return not self._pending and self._in_flight is None and not self._held

    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    def offer(self, offsets: Mapping[Key, int]) -> None:
        for key, offset in offsets.items():
            if offset > self._pending.get(key, -1):
                self._pending[key] = offset

    def forget(self, keys: Iterable[Key]) -> None:
        """The partitions are no longer ours: nothing of theirs is committed any more."""
        for key in keys:
            self._pending.pop(key, None)
            if self._in_flight is not None:
                self._in_flight.pop(key, None)

    def assigned(self) -> None:
        """Partitions were assigned: the membership is current again."""
        self._held = False

    def send(self, assigned: Iterable[Key]) -> None:
        """Commits what is pending for the `assigned` partitions, unless a commit is in
        flight, a back-off runs, or the membership is gone until the next assignment."""
        if self._held or self._in_flight is not None or not self._pending or self._clock() < self._not_before:
            return
        held = set(assigned)
        offsets = {key: offset for key, offset in self._pending.items() if key in held}
        self.forget([key for key in self._pending if key not in held])
        if not offsets:
            return
        self._in_flight = offsets
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                  asynchronous=True)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.fatal():
                raise
            self.on_commit(error, [])

    def commit_now(self, keys: Iterable[Key]) -> None:
        """A synchronous commit of what is pending for `keys` (in a rebalance callback, where
        the partitions are still ours and the consumer cannot be polled); one attempt."""
        wanted = set(keys)
        offsets = {key: offset for key, offset in self._pending.items() if key in wanted}
        if self._held or not offsets:
            return
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                  asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.fatal():
                raise
            log.warning("offset commit of %d partition(s) before giving them up failed (%s); their next "
                        "owner forms the uncommitted batches again from the ledger", len(offsets), error.str())
        self.forget(offsets)

    def drain(self, assigned: Iterable[Key], poll: Callable[[float], object], timeout_s: float) -> bool:
        """On stop: commits what is pending and polls until Kafka answers or `timeout_s` ran
        out; True when nothing is left uncommitted."""
        self._not_before = 0.0
        self.send(assigned)
        deadline = self._clock() + timeout_s
        while self._in_flight is not None and self._clock() < deadline:
            poll(0.1)
        return self.idle

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The consumer's report of the commit in flight (called during its poll)."""
        sent, self._in_flight = self._in_flight or {}, None
        results = {(tp.topic, tp.partition): tp.error or error for tp in partitions}
        failure = gone = None
        for key, offset in sent.items():
            problem = results.get(key, error)
            if problem is None or problem.code() == NOTHING_TO_COMMIT:
                self._settle(key, offset)
            elif problem.code() in MEMBERSHIP_GONE:
                gone = problem
            else:
                failure = problem
        if gone is not None:
            # Whatever is pending would carry the same stale membership: nothing more is
            # committed until the group assigns partitions again.
            self.dropped += 1
            self._pending.clear()
            self._held = True
            log.info("offset commit refused (%s): the group no longer knows this member; it rejoins, and "
                     "the uncommitted ranges are formed again from the ledger when assigned", gone.str())
            return
        if failure is None:
            self._delays = self._backoff.delays()
            self.condition.cleared()
            return
        self.condition.failing(f"Kafka offset commit failed: {failure.str()}",
                               "offsets kept, committed once Kafka answers")
        self._not_before = self._clock() + next(self._delays)

    def _settle(self, key: Key, offset: int) -> None:
        if self._pending.get(key, -1) <= offset:
            self._pending.pop(key, None)
