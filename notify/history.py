"""What the delivery log says about notices not yet committed: per notice and endpoint,
the attempts made, the last failure, and the final outcome if there is one.

Filled from the log when a partition is assigned, and from this process's own
acknowledged log records (so a notice that appears twice on the topic, as a detection
worker's replay can produce, is delivered once). Bounded: the oldest notices are
forgotten first; forgetting one costs at most a repeated delivery with the same
idempotency key, never a lost one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ucwatch.notify.delivery import LogEntry, Outcome


@dataclass
class EndpointHistory:
    attempts: int = 0
    final: Outcome | None = None
    last_failure: LogEntry | None = None


class History:
    def __init__(self, max_notices: int = 100_000) -> None:
        self._max = max_notices
        self._notices: OrderedDict[str, dict[str, EndpointHistory]] = OrderedDict()

    def add(self, entry: LogEntry) -> None:
        endpoints = self._notices.get(entry.notification_id)
        if endpoints is None:
            endpoints = self._notices[entry.notification_id] = {}
            while len(self._notices) > self._max:
                self._notices.popitem(last=False)
        seen = endpoints.setdefault(entry.endpoint, EndpointHistory())
        if entry.outcome is Outcome.FAILED:
            if entry.attempt >= seen.attempts:
                seen.attempts = entry.attempt
                seen.last_failure = entry
        elif seen.final is None:
            seen.final = entry.outcome
            seen.attempts = max(seen.attempts, entry.attempt)

    def of(self, notification_id: str) -> dict[str, EndpointHistory]:
        return self._notices.get(notification_id, {})

    def __len__(self) -> int:
        return len(self._notices)
