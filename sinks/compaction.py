"""When the sink merges the report's per-child aggregate (`child_event_states`) into one
part: once idle with new events landed, at the end of a run (`--until-caught-up`), and at
most every `every_s` while it runs. Background merges get there too, eventually; one part
makes the report several times faster (docs/sink.md has the figures).
"""

from __future__ import annotations

import time
from collections.abc import Callable

COMPACT_EVERY_S = 600.0


class CompactionSchedule:
    def __init__(self, every_s: float = COMPACT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._events_since = 0
        self._done_at = clock()

    def landed(self, events: int) -> None:
        self._events_since += events

    def due(self, at_end: bool) -> bool:
        """Asked while idle: is a merge worth it now?"""
        if self._events_since == 0:
            return False
        return at_end or self._clock() - self._done_at >= self._every_s

    def done(self) -> None:
        self._events_since = 0
        self._done_at = self._clock()
