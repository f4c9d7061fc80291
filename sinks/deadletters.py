"""Step 3 of the sink's order: its dead letters, and when Kafka has acknowledged them.

A record the sink cannot decode, one of a type that does not belong on its topic, and a
row ClickHouse refused become dead letters (built by `ucwatch.core.deadletter`, found by
topic:partition:offset). A commit must never pass a dead letter Kafka has not
acknowledged: after a crash its record would be neither a row nor a dead letter. So the
letters sent since the last acknowledgement are kept: `settle` says whether Kafka took all
of them, and sends all of them again if it refused some (dead letters are at least once).
"""

from __future__ import annotations

import logging
from typing import Any

from ucwatch.core import deadletter
from ucwatch.core.deadletter import DeadLetter, DeadLetterWriter
from ucwatch.sinks.conditions import Condition
from ucwatch.sinks.writer import Refused

log = logging.getLogger("ucwatch.sink")


class DeadLetters:
    def __init__(self, producer: Any, topic: str) -> None:
        self._producer = producer
        self._writer = DeadLetterWriter(producer, topic)
        self._unsettled: list[DeadLetter] = []
        self.condition = Condition("Kafka (dead letters)", log)
        self.count = 0

    def undecodable(self, message: Any, code: str, reason: str) -> None:
        self._send(deadletter.for_record(
            reason_code=code, reason=reason, stage="sink", topic=message.topic(),
            partition=message.partition(), offset=message.offset(), value=message.value(), key=message.key()))

    def refused(self, topic: str, refused: Refused) -> None:
        # the row's record stays on its topic; its position is what finds it
        row = refused.row
        self._send(deadletter.for_record(
            reason_code="refused_by_clickhouse", reason=refused.reason, stage="sink", topic=topic,
            partition=int(row[-2]), offset=refused.offset, value=repr(row).encode("utf-8", "replace"), key=None))

    def settle(self, timeout_s: float) -> bool:
        """True once Kafka acknowledged every dead letter sent so far."""
        if not self._unsettled:
            return True
        if self._producer.flush(timeout_s):
            return False  # still on their way
        failures = self._writer.flush(0)  # the deliveries' reports, now that none is pending
        if failures:
            self.condition.failing(f"Kafka refused {len(failures)} dead letter(s) ({failures[0]})",
                                   "sending them again; nothing after them is committed meanwhile")
            for letter in self._unsettled:
                self._writer.send(letter)
            return False
        self._unsettled.clear()
        self.condition.cleared()
        return True

    def _send(self, letter: DeadLetter) -> None:
        self._writer.send(letter)
        self._unsettled.append(letter)
        self.count += 1
