"""The console's state: the alerts topic folded with the actions topic, in memory.

Pure: records go in (`apply_alert`, `apply_action`), views come out (`triage`,
`ConsoleState.alert`, `ConsoleState.child_alerts`); no Kafka, no clock of its own (the
time that decides whether a snooze still holds is passed in).

How an alert's triage is derived, from its latest change (highest `sequence`) and every
action taken on it:

1. assignee: the last ASSIGNED, whatever happened since (a person keeps a case);
2. an acknowledgement, a snooze and a closure by hand hold for the change the person saw
   (`alert_sequence`): once the alert changes again (escalated, reopened) they lapse, and
   the alert is back in the queue as CHANGED (it had been taken in hand before);
3. status: CLOSED_BY_HAND, else SNOOZED (until its time), else ACKNOWLEDGED, else CHANGED,
   else NEW.

Because rule 2 compares sequences, not arrival order, the result is the same whichever
topic is read first on a rebuild: actions on an alert not seen yet wait for it. A repeated
record (same `action_id`, or same alert `sequence`) changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ucwatch.console.actions import Action, ActionKind

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
"""LOW 0 ... CRITICAL 3."""


class Triage(StrEnum):
    NEW = "NEW"
    CHANGED = "CHANGED"
    """Acknowledged, snoozed or closed before, then the alert changed: back in the queue."""
    ACKNOWLEDGED = "ACKNOWLEDGED"
    SNOOZED = "SNOOZED"
    CLOSED_BY_HAND = "CLOSED_BY_HAND"


@dataclass(frozen=True)
class AlertChange:
    """One AlertChanged record (times as aware datetimes)."""
    alert_id: str
    child_id: str
    rule: str
    change: str
    status: str
    severity: str
    deadline: datetime
    fired_at: datetime
    reason: str
    basis: str
    sequence: int
    synthetic: bool
    arrived_at: datetime | None = None
    """Wall clock: the Kafka timestamp of the record (when the detector wrote the change);
    what the time to acknowledge is measured from, since actions carry wall time too."""

    @classmethod
    def from_record(cls, record: dict[str, Any], arrived_at: datetime | None = None) -> AlertChange:
        return cls(alert_id=record["alert_id"], child_id=record["child_id"], rule=record["rule"],
                   change=record["change"], status=record["status"], severity=record["severity"],
                   deadline=_aware(record["deadline"]), fired_at=_aware(record["fired_at"]),
                   reason=record.get("reason", ""), basis=record.get("basis", ""),
                   sequence=int(record["sequence"]), synthetic=bool(record.get("synthetic", False)),
                   arrived_at=arrived_at)


@dataclass(frozen=True)
class TriageView:
    status: Triage
    assignee: str | None
    acknowledged: Action | None
    snoozed_until: datetime | None
    closed: Action | None


@dataclass
class AlertEntry:
    """Everything known about one alert: its changes by sequence and the actions on it."""
    alert_id: str
    changes: dict[int, AlertChange] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    @property
    def latest(self) -> AlertChange | None:
        return self.changes[max(self.changes)] if self.changes else None

    @property
    def opened_at(self) -> datetime | None:
        return self.changes[min(self.changes)].fired_at if self.changes else None


def triage(entry: AlertEntry, now: datetime) -> TriageView:
    """The alert's triage now (see the module docstring for the rules)."""
    latest = entry.latest
    sequence = latest.sequence if latest else 0
    assignee = acknowledged = snooze = closed = None
    taken_before = False
    for action in entry.actions:  # kept in time order
        current = action.alert_sequence >= sequence
        if action.action is ActionKind.ASSIGNED:
            assignee = action.assignee
        elif action.action is ActionKind.ACKNOWLEDGED:
            acknowledged = action if current else acknowledged
        elif action.action is ActionKind.SNOOZED:
            snooze = action if current else snooze
        elif action.action is ActionKind.CLOSED_BY_HAND:
            closed = action if current else closed
        if not current and action.action in (ActionKind.ACKNOWLEDGED, ActionKind.SNOOZED,
                                             ActionKind.CLOSED_BY_HAND):
            taken_before = True
    snoozed_until = snooze.snoozed_until if snooze and snooze.snoozed_until and snooze.snoozed_until > now else None
    if closed is not None:
        status = Triage.CLOSED_BY_HAND
    elif snoozed_until is not None:
        status = Triage.SNOOZED
    elif acknowledged is not None:
        status = Triage.ACKNOWLEDGED
    elif taken_before:
        status = Triage.CHANGED
    else:
        status = Triage.NEW
    return TriageView(status, assignee, acknowledged, snoozed_until, closed)


class ConsoleState:
    """Every alert and action read so far, indexed by alert and by child."""

    def __init__(self) -> None:
        self.alerts: dict[str, AlertEntry] = {}
        self._by_child: dict[str, set[str]] = defaultdict(set)
        self._action_ids: set[str] = set()
        self.pending: set[str] = set()
        """Alerts overdue but held PENDING until their awaited feeds are complete (docs/detect.md,
        Source watermarks): not in the queue, counted above it."""
        self.version = 0
        """Goes up with every change that alters a view (caches key on it)."""

    def apply_alert(self, change: AlertChange) -> bool:
        """Folds in one alert change; False when it was already known."""
        entry = self._entry(change.alert_id)
        if change.sequence in entry.changes:
            return False
        entry.changes[change.sequence] = change
        self._by_child[change.child_id].add(change.alert_id)
        latest = entry.latest
        if latest is not None and latest.status == "PENDING":
            self.pending.add(change.alert_id)
        else:
            self.pending.discard(change.alert_id)
        self.version += 1
        return True

    def apply_action(self, action: Action) -> bool:
        """Folds in one action; False when it was already known (same action_id)."""
        if action.action_id in self._action_ids:
            return False
        self._action_ids.add(action.action_id)
        entry = self._entry(action.alert_id)
        entry.actions.append(action)
        entry.actions.sort(key=lambda a: (a.at, a.action_id))
        self._by_child[action.child_id].add(action.alert_id)
        self.version += 1
        return True

    def alert(self, alert_id: str) -> AlertEntry | None:
        entry = self.alerts.get(alert_id)
        return entry if entry is not None and entry.latest is not None else None

    def child_alerts(self, child_id: str) -> list[AlertEntry]:
        """The child's alerts (those whose changes were read), newest opening first."""
        entries = [self.alerts[a] for a in self._by_child.get(child_id, ()) if self.alerts[a].latest is not None]
        return sorted(entries, key=lambda e: e.opened_at or datetime.min.replace(tzinfo=UTC), reverse=True)

    def open_entries(self) -> list[AlertEntry]:
        return [e for e in self.alerts.values() if e.latest is not None and e.latest.status == "OPEN"]

    def pending_entries(self) -> list[AlertEntry]:
        """The alerts held PENDING now (their latest change is PENDING)."""
        return [self.alerts[alert_id] for alert_id in self.pending]

    def _entry(self, alert_id: str) -> AlertEntry:
        entry = self.alerts.get(alert_id)
        if entry is None:
            entry = self.alerts[alert_id] = AlertEntry(alert_id)
        return entry


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)
