"""Helpers for the detection tests: events in the engine's form, and a child to feed them to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.helpers import sample_event
from ucwatch.streams.engine import AlertChange, Engine, Notification, Step
from ucwatch.streams.policy import Policy
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.state import ChildState

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = int(datetime.fromisoformat("2021-03-01T12:00:00+00:00").timestamp() * 1000)
TIMESTAMPS = ("occurred_at", "recorded_at", "hearing_at", "next_hearing_at")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def event(event_type: str, at: int, child: int = 1, **overrides: Any) -> dict[str, Any]:
    """tests.helpers.sample_event with its timestamps as int ms, occurring (and recorded) at `at`."""
    e = sample_event(event_type, child=child, **overrides)
    for name in TIMESTAMPS:
        if isinstance(e.get(name), str):
            e[name] = ms(e[name])
    e["occurred_at"] = at
    e["recorded_at"] = overrides.get("recorded_at", at)
    return e


@dataclass
class Child:
    """One child's state fed through an engine, every output kept in order."""

    engine: Engine = field(default_factory=lambda: Engine(default_policy()))
    state: ChildState | None = None
    alerts: list[AlertChange] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    now: int = 0

    @classmethod
    def with_policy(cls, policy: Policy, **kwargs: Any) -> Child:
        return cls(engine=Engine(policy, **kwargs))

    def feed(self, *events: dict[str, Any], now: int | None = None) -> Step:
        """Each event arrives at `now` (default: its recorded_at, the clock never going back);
        the step of the last one."""
        step = None
        for e in events:
            self.now = max(self.now, now if now is not None else e["recorded_at"])
            step = self.engine.on_event(self.state, e, self.now)
            self._keep(step)
        return step  # type: ignore[return-value]

    def tick(self, now: int) -> Step:
        self.now = max(self.now, now)
        assert self.state is not None
        step = self.engine.on_time(self.state, self.now)
        self._keep(step)
        return step

    def run_clock(self, until: int) -> None:
        """Ticks whenever the next wakeup has come, up to `until`."""
        while self.state is not None:
            wake = self.state.next_wakeup_ms
            if wake is None or wake > until:
                break
            self.tick(max(wake, self.now))
        self.now = max(self.now, until)

    def _keep(self, step: Step) -> None:
        self.state = step.state
        self.alerts.extend(step.alerts)
        self.notifications.extend(step.notifications)

    def of(self, rule: str) -> list[tuple[str, int, str]]:
        """(change, fired_at_ms, severity) of every change of `rule`, in order."""
        return [(a.change, a.fired_at_ms, a.severity) for a in self.alerts if a.rule == rule]

    def changes(self, rule: str) -> list[AlertChange]:
        return [a for a in self.alerts if a.rule == rule]

    def outcome(self, rule: str) -> dict[str, tuple[str, str]]:
        """alert_id -> (status, severity if OPEN) of the rule's alerts, a RETRACTED one counting
        as none. (A closed alert keeps the highest severity it was emitted with, which a late
        earlier follow-up does not lower.)"""
        assert self.state is not None
        return {rec[0]: (rec[1], rec[2] if rec[1] == "OPEN" else "") for rec in self.state.alerts.get(rule, {}).values()
                if rec[1] != "RETRACTED"}


def outputs(engine: Engine, arrivals: Iterable[tuple[str, Any, int]]) -> tuple[list, list, dict[str, ChildState]]:
    """Feeds ("event", event, now) and ("tick", child_id, now) items; all outputs and states."""
    states: dict[str, ChildState] = {}
    alerts: list = []
    notes: list = []
    for kind, item, now in arrivals:
        if kind == "event":
            step = engine.on_event(states.get(item["child_id"]), item, now)
            child = item["child_id"]
        else:
            if item not in states:
                continue
            step = engine.on_time(states[item], now)
            child = item
        states[child] = step.state
        alerts.extend(step.alerts)
        notes.extend(step.notifications)
    return alerts, notes, states
