"""What the coordinator reports, turned into metrics and into one log line per condition.

An endpoint that starts failing is logged once (not once per attempt), and once again
when it delivers again. An endpoint that flaps is not logged at every turn: a failure
within `QUIET_S` of the last line about its endpoint is held back, and reported (with the
attempts failed meanwhile) once that time has passed if the endpoint is still failing
(`tick` writes it); so a flapping endpoint gives at most two lines a minute. Each notice
given up is an error line of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ucwatch.notify.delivery import AttemptResult, Endpoint
from ucwatch.notify.metrics import NotifyMetrics

log = logging.getLogger("ucwatch.notify")
QUIET_S = 60.0


@dataclass
class _Condition:
    failing: bool = False
    shown_failing: bool = False
    failures: int = 0
    """Failed attempts since the endpoint last delivered after a line saying it failed."""
    detail: str = ""
    last_line_at: float = float("-inf")


class DeliveryObserver:
    def __init__(self, metrics: NotifyMetrics, budget_text: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._budget_text = budget_text
        self._clock = clock
        self._conditions: dict[str, _Condition] = {}

    def attempted(self, endpoint: Endpoint, result: AttemptResult, duration_s: float, age_s: float) -> None:
        labels = (endpoint.recipient, endpoint.channel.value.lower())
        self._metrics.attempt_seconds.labels(*labels).observe(max(duration_s, 0.0))
        condition = self._conditions.setdefault(endpoint.name, _Condition())
        if result.delivered:
            self._metrics.delivered.labels(*labels).inc()
            self._metrics.latency.labels(*labels).observe(max(age_s, 0.0))
            self._metrics.endpoint_up.labels(endpoint.name).set(1)
            condition.failing = False
        else:
            self._metrics.attempts_failed.labels(*labels).inc()
            self._metrics.endpoint_up.labels(endpoint.name).set(0)
            condition.failing, condition.detail = True, result.detail
            condition.failures += 1
        self._report(endpoint.name, condition)

    def tick(self) -> None:
        """Writes the lines held back while their endpoint was flapping."""
        for name, condition in self._conditions.items():
            self._report(name, condition)

    def gave_up(self, endpoint: Endpoint, text: str) -> None:
        self._metrics.undelivered.labels(endpoint.recipient, endpoint.channel.value.lower()).inc()
        log.error("NOTICE_UNDELIVERED: %s; dead-lettered and a CRITICAL alert raised", text)

    def skipped(self, endpoint: Endpoint) -> None:
        self._metrics.skipped.labels(endpoint.recipient, endpoint.channel.value.lower()).inc()

    def _report(self, name: str, condition: _Condition) -> None:
        now = self._clock()
        if condition.failing == condition.shown_failing:
            return
        if condition.failing and now - condition.last_line_at < QUIET_S:
            return  # flapping: said again once it has lasted
        if condition.failing:
            log.warning("%s: failing (%s); %d failed attempt(s); its notices stay pending and are retried (%s)",
                        name, condition.detail, condition.failures, self._budget_text)
        else:
            log.warning("%s: delivering again, after %d failed attempt(s)", name, condition.failures)
            condition.failures = 0
        condition.shown_failing, condition.last_line_at = condition.failing, now
