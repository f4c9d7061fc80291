"""The sink's consumer in its group: subscribing, polling, the commits, and Kafka's reports.

- Polling never stops for long: commits are asynchronous (sinks/commits.py), so a consumer
  whose membership was lost in a broker outage rejoins on its next poll by itself.
- A consumer that failed for good (a fatal librdkafka error, e.g. a static member fenced by
  its own rejoin after an outage) is replaced by a new one from the factory; the sink is
  told its partitions are lost, and forms their uncommitted batches again from the ledger.
- So is a consumer that the group assigns nothing for `sink.rejoin_wait_s` after it
  subscribed or lost its partitions, while Kafka answers: a static member whose session
  expired during a broker outage can stay out of the group for good without any error
  (librdkafka #3437, seen in this project's broker-restart test). The wait starts again
  whenever Kafka does not answer, and doubles with each replacement.
- Kafka's client-level errors (an unreachable broker is reported about twenty times a
  second) become one log line when they begin and one when Kafka answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ucwatch.core.errors import SettingsError
from ucwatch.core.kafka_admin import kafka_reason
from ucwatch.core.retry import Backoff, retry
from ucwatch.sinks.clients import KafkaClients
from ucwatch.sinks.commits import Committer
from ucwatch.sinks.conditions import Condition

log = logging.getLogger("ucwatch.sink")

COMMITTED_TIMEOUT_S = 10.0
RENEW_DELAY_S = 1.0
REJOIN_CHECK_S = 5.0
"""How often an overdue rejoin asks Kafka whether it answers."""
REJOIN_WAIT_MAX_S = 600.0
METADATA_TIMEOUT_S = 2.0

Rebalance = Callable[[list[TopicPartition]], None]


class GroupConsumer:
    def __init__(self, kafka: KafkaClients, topics: list[str], *, on_assign: Rebalance, on_revoke: Rebalance,
                 on_lost: Rebalance, stop: threading.Event, rejoin_wait_s: float) -> None:
        if not rejoin_wait_s > 0:   # at 0 a consumer would be replaced before the group could answer it
            raise SettingsError(f"setting sink.rejoin_wait_s must be more than 0 s, not {rejoin_wait_s}")
        self._kafka = kafka
        self._topics = topics
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._stop = stop
        self.condition = Condition("Kafka", log)
        self._fatal: KafkaError | None = None
        self.renewed = 0
        self._rejoin_wait_s = self._first_rejoin_wait_s = rejoin_wait_s
        self._unassigned_since: float | None = None
        """When this consumer started waiting for an assignment; None while it has one."""
        self._next_rejoin_check = 0.0
        self._consumer = kafka.consumer(self._on_commit, self._on_error)
        self.committer = Committer(self._consumer)

    def subscribe(self) -> None:
        self._unassigned_since = time.monotonic()
        self._consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._lost)

    def consume(self, count: int, timeout_s: float) -> list[Any]:
        """The next records (and partition-end events); rebalances are served meanwhile."""
        if self._fatal is None and not self._rejoin_overdue():
            try:
                return list(self._consumer.consume(count, timeout_s))
            except KafkaException as exc:
                if not _fatal(exc):
                    raise
                self._fatal = exc.args[0]
        self._renew()
        return []

    def committed(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The group's committed offsets, asked again while the coordinator does not answer."""
        result: list[TopicPartition] = retry(
            partial(self._consumer.committed, partitions, timeout=COMMITTED_TIMEOUT_S),
            retry_on=lambda exc: isinstance(exc, KafkaException) and not _fatal(exc),
            backoff=Backoff(first_s=0.5, max_s=5.0), stop=self._stop,
            on_retry=lambda attempt, exc, delay: self.condition.failing(
                f"Kafka: the group's committed offsets cannot be read ({kafka_reason(exc)})", "asking again"))
        return result

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._consumer.assign(partitions)
        self.committer.assigned()
        self.condition.cleared()

    def close(self) -> None:
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.debug("closing the consumer: %s", exc)

    def failed(self, error: KafkaError) -> None:
        """A fatal error reported with a record: the next `consume` starts a new consumer."""
        self._fatal = error

    def _assigned(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._unassigned_since = None
        self._rejoin_wait_s = self._first_rejoin_wait_s
        self._on_assign(partitions)

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._unassigned_since = time.monotonic()
        self._on_revoke(partitions)

    def _lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._unassigned_since = time.monotonic()
        self._on_lost(partitions)

    def _rejoin_overdue(self) -> bool:
        """No assignment for longer than the wait, and Kafka answers (while it does not, no
        rejoin can complete, so the wait starts again)."""
        now = time.monotonic()
        if self._unassigned_since is None or now - self._unassigned_since < self._rejoin_wait_s \
                or now < self._next_rejoin_check:
            return False
        self._next_rejoin_check = now + min(REJOIN_CHECK_S, self._rejoin_wait_s)
        try:
            self._consumer.list_topics(timeout=METADATA_TIMEOUT_S)
        except KafkaException:
            self._unassigned_since = time.monotonic()
            return False
        return True

    def _on_commit(self, error: Any, partitions: list[Any]) -> None:
        self.committer.on_commit(error, partitions)
        if error is None:
            self.condition.cleared()  # the group coordinator answered

    def _on_error(self, error: KafkaError) -> None:
        if is_fatal(error):
            self._fatal = error
            return
        self.condition.failing(f"Kafka: {error.str()}", "polling on; the group is rejoined once it answers")

    def _renew(self) -> None:
        error, self._fatal = self._fatal, None
        if error is not None:
            log.error("the Kafka consumer failed for good (%s); starting a new one", error.str())
        else:
            log.error("the consumer group has assigned this consumer nothing for %.0f s while Kafka answers; "
                      "starting a new consumer", time.monotonic() - (self._unassigned_since or 0.0))
            self._rejoin_wait_s = min(self._rejoin_wait_s * 2, REJOIN_WAIT_MAX_S)
        try:
            held = list(self._consumer.assignment())
        except (KafkaException, RuntimeError):
            held = []
        self._on_lost(held)
        self.close()
        self._stop.wait(RENEW_DELAY_S)
        self._consumer = self._kafka.consumer(self._on_commit, self._on_error)
        self.committer = Committer(self._consumer)
        self.subscribe()
        self.renewed += 1


def is_fatal(error: KafkaError) -> bool:
    """A consumer that can do nothing more. librdkafka reports it through the error callback
    with the flag set, but as an error event on the consumer's queue with code _FATAL and
    the flag unset: both count."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


def _fatal(exc: BaseException) -> bool:
    return bool(exc.args) and isinstance(exc.args[0], KafkaError) and is_fatal(exc.args[0])
