"""The notifier's loop on Kafka: notices in, deliveries out, offsets committed last.

One consumer (group `notify.group_id`) reads the notifications topic. Each turn, in this
order (the crash semantics follow from it):

1. consume notices into the coordinator; at most `notify.max_pending` are held, beyond
   that every assigned partition is paused until a quarter of them are finished;
2. start the attempts that are due on the sender threads: a signed POST or an e-mail,
   each carrying the notice id as its idempotency key;
3. hand the attempts that ended to the coordinator, which produces each outcome to the
   delivery log (partition = the notice's partition). A failure for good first waits
   for its FAILED record, then writes the dead letter and the NOTICE_UNDELIVERED alert,
   then, once both are acknowledged, the GAVE_UP record;
4. serve the producer's acknowledgements: a notice is finished when the final record of
   each of its endpoints is acknowledged;
5. commit, synchronously, each partition's lowest unfinished offset, with the delivery
   log's start as metadata (at most once a second, and when partitions are revoked or
   the notifier stops).

- Killed before 2: nothing was sent; the notice is read again from the committed offset.
- Killed after 2, before its record is acknowledged in 4: the notice is read again and,
  the log saying nothing final, delivered again with the same idempotency key: a
  receiver that keeps keys sees it once (an e-mail may arrive twice, with the same
  Message-ID).
- Killed after 4, before 5: the notice is read again; the log, read from the stored
  start when the partition is assigned, says it is final: it is not sent again.
- Killed between the dead letter and alert and the GAVE_UP record: the log holds the
  FAILED records of the whole budget, so the notice is given up again at once: the same
  alert record (same id and content) and a second dead letter.
- Killed after 5: nothing is repeated.
- A receiver down: its deliveries wait with back-off; their offsets are not committed,
  so later notices of the same partitions are read but not committed until it is given
  up (or delivers); memory is bounded by pausing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ucwatch.core import deadletter
from ucwatch.core.errors import ContractError
from ucwatch.core.kafka_admin import client_config, kafka_reason
from ucwatch.core.settings import Settings
from ucwatch.notify.coordinator import Coordinator
from ucwatch.notify.delivery import Source
from ucwatch.notify.endpoints import Sender
from ucwatch.notify.lag import LagProbe
from ucwatch.notify.log_reader import read_log
from ucwatch.notify.metrics import NotifyMetrics
from ucwatch.notify.observe import QUIET_S
from ucwatch.notify.offsets import log_start_from_metadata
from ucwatch.notify.outbox import KafkaOutbox
from ucwatch.notify.pool import SenderPool
from ucwatch.schemas.serde import Decoder

log = logging.getLogger("ucwatch.notify")

NOTICE_NAME = "gov.ucwatch.notifications.NotificationSent"
CONSUME_BATCH = 500
TURN_S = 0.1
COMMIT_EVERY_S = 1.0
LAG_EVERY_S = 1.0
"""How often the positions are handed to the lag probe and held log lines are written."""
STOP_GRACE_S = 2.0
MAX_POLL_INTERVAL_MS = 24 * 3600 * 1000


class Notifier:
    def __init__(self, settings: Settings, *, coordinator: Coordinator, outbox: KafkaOutbox,
                 senders: Mapping[str, Sender], decoders: tuple[Decoder, Decoder], metrics: NotifyMetrics,
                 stop: threading.Event, beat: Callable[[], None] | None = None,
                 tick: Callable[[], None] | None = None, lag: LagProbe | None = None) -> None:
        """`decoders`: for notices (timestamps as datetimes) and for the delivery log (raw)."""
        self._settings = settings
        self._topic = settings.topics.notifications.name
        self._coordinator = coordinator
        self._outbox = outbox
        self._decoder, self._log_decoder = decoders
        self._metrics = metrics
        self._stop = stop
        self._beat = beat
        self._tick = tick
        self._lag = lag
        self._pool = SenderPool(senders, settings.notify.senders)
        self._consumer = Consumer({
            **client_config(settings), "group.id": settings.notify.group_id,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
            "session.timeout.ms": settings.notify.session_timeout_ms,
            **({"group.instance.id": settings.notify.instance_id} if settings.notify.instance_id else {})})
        self._assigned: list[int] = []
        self._paused = False
        self._pause_logged_at = float("-inf")
        self._pause_shown = False
        self._committed_at = 0.0
        self._lag_at = 0.0
        self._trouble: dict[str, str] = {}
        """The last consumer error and commit failure logged, so each is logged once."""
        self.rebalanced = False
        """True once the group gave this notifier its share (possibly none)."""

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        self._consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._stop.is_set():
                self._turn()
            self._finish()
        finally:
            self._pool.close()
            self._consumer.close()  # revokes: what is finished is committed there

    def _turn(self) -> None:
        if self._beat is not None:
            self._beat()
        room = self._settings.notify.max_pending - self._coordinator.pending
        self._apply_back_pressure(room)
        for message in self._consumer.consume(max(1, min(room, CONSUME_BATCH)), self._wait_s()):  # 1
            self._take(message)
        for delivery in self._coordinator.due():  # 2
            self._pool.submit(delivery)
        for done in self._pool.results():  # 3
            self._coordinator.attempted(done.delivery, done.result, done.started_ms, done.ended_ms)
        self._outbox.poll(0)  # 4
        now = time.monotonic()
        if now - self._committed_at >= COMMIT_EVERY_S:  # 5
            self._commit()
            self._committed_at = now
        if now - self._lag_at >= LAG_EVERY_S:
            if self._lag is not None:
                self._lag.update(self._coordinator.positions())
            if self._tick is not None:
                self._tick()
            self._lag_at = now
        self._metrics.pending.set(self._coordinator.pending)

    def _wait_s(self) -> float:
        if self._pool.in_flight:
            return TURN_S / 4
        due = self._coordinator.next_due_ms()
        if due is None:
            return TURN_S
        return min(TURN_S, max(0.0, due / 1000 - time.time()))

    def _finish(self) -> None:
        """On stop: attempts under way get a short grace, then what is acknowledged is committed."""
        deadline = time.monotonic() + STOP_GRACE_S
        while self._pool.in_flight and time.monotonic() < deadline:
            for done in self._pool.results(wait_s=0.1):
                self._coordinator.attempted(done.delivery, done.result, done.started_ms, done.ended_ms)
        for done in self._pool.results():
            self._coordinator.attempted(done.delivery, done.result, done.started_ms, done.ended_ms)
        left = self._outbox.flush(STOP_GRACE_S)
        self._outbox.poll(0)
        self._commit()
        if left or self._pool.in_flight:
            log.warning("stopping with %d attempt(s) under way and %d write(s) unacknowledged: "
                        "their notices are delivered again after the restart, with the same key",
                        self._pool.in_flight, left)

    # -- records --------------------------------------------------------------------------
    def _take(self, message: Any) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            if error.code() != KafkaError._PARTITION_EOF:
                self._once("consumer", error.str(), "consumer: %s (reported once until it changes)")
            return
        self._trouble.pop("consumer", None)
        if not self._coordinator.owns(message.partition()):
            return  # fetched before its partition was revoked: its next owner reads it
        timestamp_type, timestamp_ms = message.timestamp()
        source = Source(message.topic(), message.partition(), message.offset(),
                        timestamp_ms if timestamp_type else int(time.time() * 1000),
                        message.key(), message.value())
        if source.value is None:
            self._refuse(source, "empty_record", "a record without a value (a tombstone) is not a notice")
            return
        try:
            name, record = self._decoder.decode_named(source.value)
        except ContractError as exc:
            self._refuse(source, exc.code, exc.message)
            return
        if name != NOTICE_NAME:
            self._refuse(source, "unexpected_record_type", f"a {name} record does not belong on {source.topic}")
            return
        self._coordinator.take(source, record)

    def _refuse(self, source: Source, code: str, reason: str) -> None:
        log.warning("dead-lettering %s:%d:%d: %s", source.topic, source.partition, source.offset, reason)
        self._coordinator.refuse(source, deadletter.for_record(
            reason_code=code, reason=reason, stage="notify", topic=source.topic, partition=source.partition,
            offset=source.offset, value=source.value, key=source.key))

    # -- partitions -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        for tp in committed:
            start = log_start_from_metadata(tp.metadata) if tp.offset >= 0 else None
            records, log_end = read_log(self._settings, self._log_decoder, tp.partition, start)
            self._coordinator.assign(tp.partition, tp.offset, log_end, records)
            log.info("%s[%d]: from offset %s, %d delivery-log record(s) read from %s", self._topic,
                     tp.partition, tp.offset if tp.offset >= 0 else "the beginning", len(records),
                     start if start is not None else "the log's beginning")
        consumer.assign(committed)
        self._assigned = sorted(set(self._assigned) | {tp.partition for tp in committed})
        self._paused = False
        self._metrics.paused.set(0)
        self.rebalanced = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._outbox.flush(STOP_GRACE_S)
        self._outbox.poll(0)
        self._commit()
        for tp in partitions:
            self._coordinator.revoke(tp.partition)
        gone = {tp.partition for tp in partitions}
        self._assigned = [p for p in self._assigned if p not in gone]

    def _apply_back_pressure(self, room: int) -> None:
        limit = self._settings.notify.max_pending
        want_paused = room <= 0 or (self._paused and self._coordinator.pending > limit * 3 // 4)
        if want_paused == self._paused or not self._assigned:
            return
        partitions = [TopicPartition(self._topic, p) for p in self._assigned]
        # One line per condition: pauses that come back within a minute are not logged again.
        if want_paused:
            self._consumer.pause(partitions)
            if time.monotonic() - self._pause_logged_at >= QUIET_S:
                log.warning("%d notices held (notify.max_pending): reading paused until some are finished",
                            self._coordinator.pending)
                self._pause_logged_at, self._pause_shown = time.monotonic(), True
        else:
            self._consumer.resume(partitions)
            if self._pause_shown:
                log.warning("reading resumed (%d notices held)", self._coordinator.pending)
                self._pause_shown = False
        self._paused = want_paused
        self._metrics.paused.set(len(partitions) if want_paused else 0)

    # -- commits --------------------------------------------------------------------------
    def _commit(self) -> None:
        due = self._coordinator.to_commit()
        if not due:
            return
        offsets = [TopicPartition(self._topic, partition, offset, metadata)
                   for partition, (offset, metadata) in sorted(due.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._once("commit", kafka_reason(exc), "commit failed (%s); it is tried again every second")
            return
        if self._trouble.pop("commit", None) is not None:
            log.warning("commits succeed again")
        for tp in offsets:
            self._coordinator.committed(tp.partition, tp.offset)

    def _once(self, what: str, detail: str, message: str) -> None:
        if self._trouble.get(what) != detail:
            self._trouble[what] = detail
            log.warning(message, detail)
