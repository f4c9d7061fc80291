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

Source watermarks (watermarks.py, docs/detect.md): SourceWatermark records and the events'
lateness move each source's watermark; the children with PENDING alerts wait in a heap
per source (rebuilt, like the timers, from their states) and are looked at again when a
watermark passes their deadlines. Nothing of this runs while no source has a watermark.

Writes are deferred, and leave in an order (`Writes`): `drain_writes` gives the children's
states and, apart, the partition's clock; the glue stores them only after the outputs of
the same records are on Kafka, and the clock only after Kafka acknowledged every state
(streams/durable.py, `write_states`). Why, by what a restarted worker replays from its
last committed offset with the states it restores:

1. A state must never be durable before the alerts it records as sent, or a crash between
   the two would lose those alerts for good (the replayed record finds them emitted).
2. The clock must never be durable before the states of the records that moved it. A
   child whose state was not stored replays its events at the clock it restores; at a
   later clock, events apply at another `now` and timers fire at other instants, so the
   same (alert id, sequence) can come out with another content (a RETRACTED change's
   `fired_at` is the clock). Found by the fault suite: 16 such pairs after SIGKILLs when
   the clock was written first in each batch.
3. With (1) and (2), whatever subset of a batch's states is durable, the replay gives the
   same records: a child whose state was stored finds the replayed events already in its
   history (a repeat changes nothing) and its next wake-up after the batch's clock; a
   child whose state was not is replayed from its earlier state at the same clocks as
   the first time, so its outputs are the same records again. A batch written whole but
   not committed replays to nothing. The records after the batch see the clock they saw
   the first time, since the clock is the largest time seen on the log so far.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ucwatch.streams.engine import Engine, Step
from ucwatch.streams.feed_alerts import feed_alert
from ucwatch.streams.lifecycle import HELD
from ucwatch.streams.records import alert_record, engine_event, notification_record, state_record
from ucwatch.streams.state import ChildState
from ucwatch.streams.state_codec import as_state
from ucwatch.streams.watermarks import HeldAlerts, PartitionMarks

CLOCK_KEY_PREFIX = "__clock__:"
CACHE_SIZE = 50_000
"""States kept as objects per partition. Fewer would shorten the cyclic collector's walks
over them, but each state that no longer fits is decoded again with its caches lost: at
10,000, one worker's share of the first 2 million national records took 256 µs of CPU per
record against 134 at 50,000 (docs/detect.md, "The collector's heap")."""


class StateStore(Protocol):
    """Per-child state and per-partition clock, kept by the glue (a faust table)."""

    def get(self, key: str) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def items(self) -> Iterable[tuple[str, Any]]: ...


@dataclass
class Outputs:
    alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: dict[str, tuple[ChildState, int]] = field(default_factory=dict)
    """child_id -> its latest state and the clock it changed at. The child-state topic is
    compacted, so a batch sends one snapshot per child (its last), made only when sent."""

    @property
    def states(self) -> list[tuple[str, dict[str, Any]]]:
        """The child-state snapshots to send: (child_id, ChildStateSnapshot record)."""
        return [(child_id, state_record(state.snapshot(), as_of)) for child_id, (state, as_of) in self.changed.items()]

    def __bool__(self) -> bool:
        return bool(self.alerts or self.notifications or self.changed)

    def extend(self, other: Outputs) -> None:
        self.alerts.extend(other.alerts)
        self.notifications.extend(other.notifications)
        self.changed.update(other.changed)


@dataclass
class Writes:
    """What the records since the last drain leave to store, in two steps: `states` (per
    child_id) first, and `clock` (the partition's, at most one) only once every state is
    durable."""

    states: dict[str, Any] = field(default_factory=dict)
    clock: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.states or self.clock)


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
        self._clock_moved = False
        # source watermarks (streams/watermarks.py): stored beside the clock, written with it
        self._marks_key = f"{CLOCK_KEY_PREFIX}{partition}:marks"
        stored_marks = store.get(self._marks_key)
        self.marks = PartitionMarks.from_dict(stored_marks["marks"] if stored_marks else None,
                                              engine.policy.feeds)
        self._held = HeldAlerts()
        self._rebuild_timers()

    def on_tick(self, tick_at_ms: int) -> Outputs:
        outputs = Outputs()
        self._advance(tick_at_ms)
        if self.marks.active:
            self._watch_feeds(outputs)
        else:
            self._fire_due(outputs)
        return outputs

    def on_event(self, decoded: dict[str, Any]) -> Outputs:
        event = engine_event(decoded)
        outputs = Outputs()
        self._advance(event["recorded_at"])
        child_id = event["child_id"]
        marks = self.marks
        before = self._load(child_id)
        if not marks.active:
            self._apply(self._engine.on_event(before, event, self.clock_ms), outputs, before)
            self._fire_due(outputs)
            return outputs
        source, occurred = event.get("source"), event["occurred_at"]
        behind = marks.behind(source, occurred, self.clock_ms)
        step = self._engine.on_event(before, event, self.clock_ms, marks)
        if step.changed:   # a repeat is not observed twice
            marks.observe(source, occurred, event["recorded_at"], self.clock_ms, behind)
            retracted = sum(1 for change in step.alerts if change.change == "RETRACTED")
            if behind and retracted and source:
                marks.count_retracted(source, retracted)   # the feed's fault, counted per source
        self._apply(step, outputs, before)
        self._watch_feeds(outputs)
        return outputs

    def on_watermark(self, source: str, complete_up_to_ms: int, declared_at_ms: int) -> Outputs:
        """A SourceWatermark record: the source declared its feed complete up to an instant."""
        outputs = Outputs()
        self._advance(declared_at_ms)
        self.marks.declare(source, int(complete_up_to_ms), self.clock_ms)
        self._watch_feeds(outputs)
        return outputs

    def _watch_feeds(self, outputs: Outputs) -> None:
        """Releases the PENDING alerts whose sources' watermarks passed their deadlines, fires
        what is due, and (partition 0 only: one alert per feed, not one per partition)
        raises or resolves FEED_STALLED."""
        marks = self.marks
        for child_id in self._held.released(marks, self.clock_ms):
            state = self._load(child_id)
            if state is not None:
                self._apply(self._engine.on_marks(state, self.clock_ms, marks), outputs)
        self._fire_due(outputs)
        if self.partition == 0 and marks.feeds.sources:
            for stall in marks.stalls(self.clock_ms):
                key, record = feed_alert(stall, marks.feeds)
                outputs.alerts.append((key, alert_record(record)))

    def drain_writes(self) -> Writes:
        """The state and clock writes made since the last call, to be stored now: the
        states first, the clock once they are durable (see the module's docstring)."""
        writes = Writes(self._pending)
        self._pending = {}
        if self._clock_moved:
            writes.clock[self._clock_key] = {"p": self.partition, "clock_ms": self.clock_ms}
            self._clock_moved = False
        if self.marks.dirty:   # with the clock: never durable before the states that moved it
            writes.clock[self._marks_key] = {"p": self.partition, "marks": self.marks.to_dict()}
            self.marks.dirty = False
        return writes

    def _advance(self, moment_ms: int) -> None:
        moment_ms = int(moment_ms)
        if moment_ms > self.clock_ms:
            self.clock_ms = moment_ms
            self._clock_moved = True

    def _fire_due(self, outputs: Outputs) -> None:
        timers = self._timers
        while timers and timers[0][0] <= self.clock_ms:
            wakeup, child_id = heapq.heappop(timers)
            state = self._load(child_id)
            if state is None or state.next_wakeup_ms != wakeup:
                continue  # stale: the child's wake-up moved since this entry was pushed
            marks = self.marks if self.marks.active else None
            self._apply(self._engine.on_time(state, self.clock_ms, marks), outputs)

    def _apply(self, step: Step, outputs: Outputs, before: ChildState | None = None) -> None:
        """`before`: the state the step started from, when its wake-up is still in the timers
        (not popped): a step that keeps that wake-up pushes no second entry, which would
        only be popped as stale. `_fire_due` pops the entry before stepping, so gives none."""
        state = step.state
        child_id = state.child_id
        for change in step.alerts:
            outputs.alerts.append((child_id, alert_record(change)))
            if change.status == HELD:
                self._held.add(child_id, self._engine.sources(change.rule), change.deadline_ms)
        for notification in step.notifications:
            outputs.notifications.append((child_id, notification_record(notification)))
        if step.changed:
            self._pending[child_id] = {"p": self.partition, "s": state}  # encoded when stored (state_codec)
            self._remember(child_id, state)
            outputs.changed[child_id] = (state, self.clock_ms)
            wakeup = state.next_wakeup_ms
            if wakeup is not None and (before is None or before.next_wakeup_ms != wakeup):
                heapq.heappush(self._timers, (wakeup, child_id))

    def _load(self, child_id: str) -> ChildState | None:
        state = self._cache.get(child_id)
        if state is None:
            stored = self._pending.get(child_id) or self._store.get(child_id)
            if stored is None:
                return None
            state = as_state(stored["s"])
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
            state = as_state(value["s"])
            wakeup = state.next_wakeup_ms
            if wakeup is not None:
                self._timers.append((wakeup, key))
            for rule, records in state.alerts.items():   # PENDING alerts wait for watermarks
                for record in records.values():
                    if record[1] == HELD:
                        self._held.add(key, self._engine.sources(rule), record[4])
        heapq.heapify(self._timers)

    def _children(self) -> Iterator[tuple[str, Any]]:
        # The worker's table lists one partition's rows (`DurableTable.rows_of`): through
        # items(), each of a worker's processors would decode every partition's rows.
        rows_of = getattr(self._store, "rows_of", None)
        rows = rows_of(self.partition) if rows_of is not None else self._store.items()
        for key, value in rows:
            if value and value.get("p") == self.partition and not key.startswith(CLOCK_KEY_PREFIX):
                yield key, value
