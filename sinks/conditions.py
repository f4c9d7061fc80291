"""Conditions that last (ClickHouse unreachable, Kafka down, commits refused), logged as
one line when they begin and one when they end, instead of one per attempt.

    clickhouse = Condition("ClickHouse", log)
    clickhouse.failing("ClickHouse cannot be reached (...)")  # logs it once; later calls count
    clickhouse.cleared()                      # "ClickHouse: back after 12.3 s (7 failures)"

The reason says what failed (the errors' messages name it); `what` names it again when it
is over.

A condition that lasts is recalled every `remind_s` with its latest reason, so that a
log read in the middle of a long outage still says what is going on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Condition:
    def __init__(self, what: str, log: logging.Logger, *, remind_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._log = log
        self._remind_s = remind_s
        self._clock = clock
        self._since: float | None = None
        self._reminded = 0.0
        self._lock = threading.Lock()  # the writer thread and the consumer's share one
        self.failures = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def failing(self, reason: str, consequence: str = "") -> None:
        with self._lock:
            self._failing(reason, consequence)

    def cleared(self) -> None:
        with self._lock:
            self._cleared()

    def _failing(self, reason: str, consequence: str) -> None:
        now = self._clock()
        self.failures += 1
        suffix = f"; {consequence}" if consequence else ""
        if self._since is None:
            self._since = self._reminded = now
            self._log.warning("%s%s", reason, suffix)
        elif now - self._reminded >= self._remind_s:
            self._reminded = now
            self._log.warning("%s: still failing after %.0f s (%d failures): %s%s", self.what,
                              now - self._since, self.failures, reason, suffix)

    def _cleared(self) -> None:
        if self._since is None:
            return
        self._log.info("%s: back after %.1f s (%d failures)", self.what, self._clock() - self._since,
                       self.failures)
        self._since = None
        self.failures = 0
