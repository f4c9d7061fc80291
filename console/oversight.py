"""The oversight report's figures for the dashboard, by the analysts' read-only path.

`analysts.report.oversight_from` over `console.history.analyst_rows`: the sink's query
service on the embedded store, the analyst connection on a server. The console never
opens the embedded store itself, so without a sink serving queries the dashboard says so
instead of the figures. The figures are kept for `TTL_S` (the report runs a few grouped
queries over the whole history; a dashboard reloaded by several people must not repeat
them each time); a failure is not kept, so the next view asks again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ucwatch.analysts.report import oversight_from
from ucwatch.console.history import NO_SINK, analyst_rows
from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import ClickHouseError

TTL_S = 60.0


@dataclass(frozen=True)
class Oversight:
    figures: dict[str, Any] | None
    unavailable: str = ""
    """Why there are no figures (empty when there are)."""


def oversight_figures(settings: Settings, as_of: datetime) -> Oversight:
    try:
        rows = analyst_rows(settings)
        if rows is None:
            return Oversight(None, NO_SINK)
        return Oversight(oversight_from(rows, settings.clickhouse.database, as_of))
    except ClickHouseError as exc:
        return Oversight(None, f"ClickHouse could not be read: {exc}")


class CachedOversight:
    """`oversight_figures` at most once per `ttl_s` (only successes are kept)."""

    def __init__(self, fetch: Callable[[], Oversight], ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: tuple[float, Oversight] | None = None

    def __call__(self) -> Oversight:
        with self._lock:
            if self._kept is not None and self._clock() - self._kept[0] < self._ttl_s:
                return self._kept[1]
        answer = self._fetch()
        if answer.figures is not None:
            with self._lock:
                self._kept = (self._clock(), answer)
        return answer
