"""One partition of the lifecycle topic, processed in log order: the clock, the timers,
the engine, and the records to send. No Kafka and no faust here: the glue (streams/app.py)
feeds records in and sends what comes out, so this is tested with plain dicts.

Time: a partition's clock is the largest of the tick times and the events' recorded_at
seen on it, so it only moves with the log and a replay moves it the same way. Deadlines
fire when the clock passes them: an event is applied first (at the clock it brings), then
every child whose next wake-up is due is woken, in (wake-up, child_id) order.

Timers: a heap of (wake-up, child_id) per partition, with stale entries skipped when
popped. It is not stored: after a restart or a rebalance it is rebuilt from the states of
the partition's children, which carry their next wake-up.

Writes are deferred: states and the clock go to `pending` and reach the store only when
the glue calls `drain_writes`, after the outputs of the same records are on Kafka. A
state must never be durable before the alerts it records as sent, or a crash between the
two would lose those alerts for good (the replayed record finds them already emitted).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ucwatch.streams.engine import Engine, Step
from ucwatch.streams.records import alert_record, engine_event, notification_record, state_record
from ucwatch.streams.state import ChildState

CLOCK_KEY_PREFIX = "__clock__:"
CACHE_SIZE = 50_000


class StateStore(Protocol):
    """Per-child state and per-partition clock, kept by the glue (a faust table)."""

    def get(self, key: str) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def items(self) -> Iterable[tuple[str, Any]]: ...


@dataclass
class Outputs:
    alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    states: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.alerts or self.notifications or self.states)

    def extend(self, other: Outputs) -> None:
        self.alerts.extend(other.alerts)
        self.notifications.extend(other.notifications)
        self.states.extend(other.states)


class PartitionProcessor:
    def __init__(self, engine: Engine, store: StateStore, partition: int) -> None:
        self._engine = engine
        self._store = store
        self.partition = partition
        self._clock_key = f"{CLOCK_KEY_PREFIX}{partition}"
        stored = store.get(self._clock_key)
        self.clock_ms: int = stored["clock_ms"] if stored else 0
        self._timers: list[tuple[int, str]] = []
        self._cache: dict[str, ChildState] = {}
        self._pending: dict[str, Any] = {}
        self._rebuild_timers()

    def on_tick(self, tick_at_ms: int) -> Outputs:
        outputs = Outputs()
        self._advance(tick_at_ms)
        self._fire_due(outputs)
        return outputs

    def on_event(self, decoded: dict[str, Any]) -> Outputs:
        event = engine_event(decoded)
        outputs = Outputs()
        self._advance(event["recorded_at"])
        child_id = event["child_id"]
        step = self._engine.on_event(self._load(child_id), event, self.clock_ms)
        self._apply(step, outputs)
        self._fire_due(outputs)
        return outputs

    def drain_writes(self) -> dict[str, Any]:
        """The state and clock writes made since the last call, to be stored now."""
        writes, self._pending = self._pending, {}
        return writes

    def _advance(self, moment_ms: int) -> None:
        moment_ms = int(moment_ms)
        if moment_ms > self.clock_ms:
            self.clock_ms = moment_ms
            self._pending[self._clock_key] = {"p": self.partition, "clock_ms": moment_ms}

    def _fire_due(self, outputs: Outputs) -> None:
        timers = self._timers
        while timers and timers[0][0] <= self.clock_ms:
            wakeup, child_id = heapq.heappop(timers)
            state = self._load(child_id)
            if state is None or state.next_wakeup_ms != wakeup:
                continue  # stale: the child's wake-up moved since this entry was pushed
            self._apply(self._engine.on_time(state, self.clock_ms), outputs)

    def _apply(self, step: Step, outputs: Outputs) -> None:
        state = step.state
        child_id = state.child_id
        for change in step.alerts:
            outputs.alerts.append((child_id, alert_record(change)))
        for notification in step.notifications:
            outputs.notifications.append((child_id, notification_record(notification)))
        if step.changed:
            self._pending[child_id] = {"p": self.partition, "s": state.to_dict()}
            self._remember(child_id, state)
            outputs.states.append((child_id, state_record(state.snapshot(), self.clock_ms)))
            wakeup = state.next_wakeup_ms
            if wakeup is not None:
                heapq.heappush(self._timers, (wakeup, child_id))

    def _load(self, child_id: str) -> ChildState | None:
        state = self._cache.get(child_id)
        if state is None:
            stored = self._pending.get(child_id) or self._store.get(child_id)
            if stored is None:
                return None
            state = ChildState.from_dict(stored["s"])
            self._remember(child_id, state)
        return state

    def _remember(self, child_id: str, state: ChildState) -> None:
        """Keeps recent states as objects: decoding the stored form on every event would
        cost more than the rules themselves. The store stays the source of truth."""
        cache = self._cache
        cache[child_id] = state
        if len(cache) > CACHE_SIZE:
            del cache[next(iter(cache))]

    def _rebuild_timers(self) -> None:
        for key, value in self._children():
            wakeup = ChildState.from_dict(value["s"]).next_wakeup_ms
            if wakeup is not None:
                self._timers.append((wakeup, key))
        heapq.heapify(self._timers)

    def _children(self) -> Iterator[tuple[str, Any]]:
        for key, value in self._store.items():
            if value and value.get("p") == self.partition and not key.startswith(CLOCK_KEY_PREFIX):
                yield key, value
