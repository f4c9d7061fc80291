"""Whether a partition's clock has stalled: an operations signal, outside the engine.

A partition's clock is its log's (the largest tick time or recorded_at seen on it,
streams/processor.py); deadlines fire only when it passes them. If the ticker stops, the
clock stops, and alerts that are due are silently not raised. So the worker compares each
clock with the wall clock, here and nowhere else: the processor and the engine never read
the wall clock, and nothing here changes what they decide about a child.

A partition is **stalled** when its clock trails the wall clock by more than the threshold
*and* has not moved for as long, in wall time. The second condition keeps a replay of
history (a clock years behind, but moving) from counting as stalled; once the replay has
caught up and no ticker carries the clock on, it is stalled after the threshold. It
**recovers** when it trails by no more than the threshold again.

`ClockWatch.observe` is called every few seconds with the clocks of the partitions the
worker holds; it returns each one's lag and the partitions that turned stalled or
recovered since the last call (one log line and one alert change each, never one per
batch). A partition that leaves the worker is forgotten; its next owner watches it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ucwatch.streams.ids import alert_id

RULE = "CLOCK_STALLED"
BASIS = ("a stalled ticker silently suppresses every deadline on its partitions; deploy/README.md, "
         "Metrics and health")


@dataclass(frozen=True)
class Turn:
    partition: int
    stalled: bool
    """True: the partition became stalled; False: it recovered."""
    clock_ms: int
    """The partition's clock now."""
    since_ms: int
    """The clock it stalled at (on recovery: the stalled alert's anchor)."""
    lag_s: float


@dataclass
class _Watched:
    clock_ms: int
    moved_at: float
    """Monotonic time the clock last moved (or was first seen)."""
    stalled_at: int | None = None
    """The clock it stalled at, while stalled."""


class ClockWatch:
    def __init__(self, threshold_s: float, *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.threshold_s = threshold_s
        self._wall = wall
        self._monotonic = monotonic
        self._partitions: dict[int, _Watched] = {}

    def stalled(self) -> list[int]:
        return sorted(p for p, w in self._partitions.items() if w.stalled_at is not None)

    def observe(self, clocks: Mapping[int, int]) -> tuple[dict[int, float], list[Turn]]:
        """The lag (s) of each partition in `clocks` (partition -> clock in ms), and the turns."""
        now_ms = self._wall() * 1000
        mono = self._monotonic()
        for gone in self._partitions.keys() - clocks.keys():
            del self._partitions[gone]
        lags: dict[int, float] = {}
        turns: list[Turn] = []
        for partition, clock_ms in clocks.items():
            watched = self._partitions.get(partition)
            if watched is None:
                watched = self._partitions[partition] = _Watched(clock_ms, mono)
            elif clock_ms != watched.clock_ms:
                watched.clock_ms, watched.moved_at = clock_ms, mono
            lag_s = lags[partition] = (now_ms - clock_ms) / 1000
            if self.threshold_s <= 0:
                continue
            if watched.stalled_at is None:
                if lag_s > self.threshold_s and mono - watched.moved_at > self.threshold_s:
                    watched.stalled_at = clock_ms
                    turns.append(Turn(partition, True, clock_ms, clock_ms, lag_s))
            elif lag_s <= self.threshold_s:
                turns.append(Turn(partition, False, clock_ms, watched.stalled_at, lag_s))
                watched.stalled_at = None
        return lags, turns


def describe(turn: Turn, topic: str, threshold_s: float) -> str:
    if turn.stalled:
        return (f"clock of {topic} partition {turn.partition} stalled at {_iso(turn.clock_ms)}: "
                f"{turn.lag_s:,.0f} s behind the wall clock and not moving for over {threshold_s:,.0f} s; "
                f"deadlines on this partition do not fire (is the ticker running?)")
    return (f"clock of {topic} partition {turn.partition} moving again: at {_iso(turn.clock_ms)}, "
            f"{turn.lag_s:,.0f} s behind the wall clock (stalled at {_iso(turn.since_ms)})")


def stall_alert(turn: Turn, topic: str, threshold_s: float, now_ms: int) -> tuple[str, dict[str, Any]]:
    """The CLOCK_STALLED alert change (key, AlertChanged record) of a turn: OPENED when it
    stalls, RESOLVED when it recovers. Its id depends on the partition and the clock it
    stalled at, so a worker that restarts (or takes the partition over) during the stall
    raises the same alert again, a repeat downstream can collapse."""
    subject = f"clock:{topic}/{turn.partition}"
    opened = turn.stalled
    return subject, {
        "alert_id": alert_id(subject, RULE, str(turn.since_ms)), "child_id": subject, "rule": RULE,
        "change": "OPENED" if opened else "RESOLVED", "status": "OPEN" if opened else "RESOLVED",
        "severity": "CRITICAL", "deadline": turn.since_ms + int(threshold_s * 1000), "fired_at": now_ms,
        "reason": describe(turn, topic, threshold_s), "start_event_id": "", "basis": BASIS,
        "sequence": 1 if opened else 2, "synthetic": False}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
