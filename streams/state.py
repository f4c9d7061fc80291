"""What the engine keeps per child, and the child-state snapshot made from it.

The state is the child's history plus what was already emitted; alerts are derived from
the history each time (derive.py), so late and out-of-order events need no special case.

    history    every distinct event as (occurred_at, event_id, event_type, kept fields,
               matcher mask), sorted by (occurred_at, event_id): event time, not arrival
    alerts     rule -> anchor -> (alert_id, status, severity, sequence, deadline_ms,
               start_event_id, contact_status, ended_at_ms): the last change emitted per
               alert (ended_at_ms: when a RESOLVED or CANCELLED one ended, by event time;
               absent in states written before it was kept); an expectation never emitted
               has no record
    wakeups    rule -> the earliest future instant at which that rule has something due
    sent       ids of the notifications already sent
    now_ms     the latest clock value seen (the clock never goes back for a child)
    policy     fingerprint of the policy the masks were computed with

A state is a value: the engine never changes one it was given, it returns a new one.
`to_dict` / `from_dict` round-trip through JSON (the table's older rows, tests); the table
stores the compact layout of streams/state_codec.py.
"""

from __future__ import annotations

from typing import Any

Entry = tuple[int, str, str, "dict[str, Any] | None", int]
"""(occurred_at_ms, event_id, event_type, kept fields or None, matcher mask)"""
Record = tuple[Any, ...]
"""(alert_id, status, severity, sequence, deadline_ms, start_event_id, contact_status,
ended_at_ms): a tuple, since one of strings and ints leaves the cyclic collector's lists
after its first pass (a list never does)"""

FORMAT = 1

CUSTODY = {"ChildEncountered": "IN_DHS_CUSTODY", "CustodyTransferred": "IN_HHS_CUSTODY",
           "ReleasedToSponsor": "RELEASED_TO_SPONSOR", "UnauthorizedDeparture": "LEFT_HHS_CARE",
           "CaseClosed": "CLOSED"}
COURT = {"NtaIssued": "NTA_ISSUED", "NtaServed": "NTA_SERVED", "NtaFiled": "NTA_FILED",
         "HearingScheduled": "HEARING_SCHEDULED", "FailureToAppear": "FAILED_TO_APPEAR",
         "InAbsentiaOrder": "ORDERED_REMOVED_IN_ABSENTIA", "CaseClosed": "CLOSED"}
_HEARING_OUTCOMES = ("HearingAttended", "FailureToAppear", "InAbsentiaOrder")
_CONTACT_PRIORITY = ("WHEREABOUTS_UNKNOWN", "UNREACHABLE")


def _rule_then_id(alert: dict[str, str]) -> tuple[str, str]:
    return alert["rule"], alert["alert_id"]


class ChildState:
    __slots__ = (
        "_ids",
        "_next_wakeup",
        "_packed",
        "_status",
        "alerts",
        "child_id",
        "folds",
        "history",
        "last_contact_ms",
        "now_ms",
        "policy",
        "sent",
        "wakeups",
    )

    def __init__(self, child_id: str, policy: str = "", now_ms: int | None = None,  # noqa: PLR0917  positional: built in the hot loop
                 history: tuple[Entry, ...] = (), alerts: dict[str, dict[str, Record]] | None = None,
                 wakeups: dict[str, int] | None = None, sent: tuple[str, ...] = (),
                 last_contact_ms: int | None = None, ids: frozenset[str] | None = None,
                 folds: tuple[Any, ...] | None = None, status: StatusFold | None = None,
                 packed: tuple[int, bytes] | None = None) -> None:
        self.child_id = child_id
        self.policy = policy
        self.now_ms = now_ms
        self.history = history
        self.alerts = alerts if alerts is not None else {}
        self.wakeups = wakeups if wakeups is not None else {}
        # once per state, not at each of the several times the engine and the timers ask:
        # like every field, the wake-ups are never changed once the state is made
        self._next_wakeup = min(self.wakeups.values()) if self.wakeups else None
        self.sent = sent
        self.last_contact_ms = last_contact_ms
        self._ids = ids
        self.folds = folds
        """Where each rule's pass over the history stopped (derive.Fold, by rule index), a
        cache the engine keeps on the object: not serialized, rebuilt when missing."""
        self._status = status
        """The snapshot's statuses folded over a prefix of the history (`StatusFold`), a
        cache like `folds`: the engine hands it on when an event is appended, so a snapshot
        folds only the entries since, not the whole history each time."""
        self._packed = packed
        """(n, the first n entries of the history as state_codec writes them), a cache like
        `_status`, handed on the same way: a state row then encodes only the new entries."""

    # what the engine and the glue read

    @property
    def next_wakeup_ms(self) -> int | None:
        """The earliest instant at which `Engine.on_time` could change something."""
        return self._next_wakeup

    @property
    def events_seen(self) -> int:
        return len(self.history)

    @property
    def last_event_at_ms(self) -> int | None:
        return self.history[-1][0] if self.history else None

    def seen(self, event_id: str) -> bool:
        return event_id in self.event_ids

    @property
    def event_ids(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = frozenset(e[1] for e in self.history)
        return self._ids

    def open_alerts(self) -> list[dict[str, str]]:
        """The OPEN alerts, by rule then alert id (whatever order they were raised in)."""
        return self._open_and_marks()[0]

    def _open_and_marks(self) -> tuple[list[dict[str, str]], set[str]]:
        """`open_alerts()` and the contact marks of the open alerts, in one pass (the
        snapshot, once per child per batch, wants both)."""
        found: list[dict[str, str]] = []
        marks = set()
        for rule, records in self.alerts.items():
            for rec in records.values():
                if rec[1] == "OPEN":
                    found.append({"alert_id": rec[0], "rule": rule, "severity": rec[2]})
                    if rec[6]:
                        marks.add(rec[6])
        if len(found) > 1:
            found.sort(key=_rule_then_id)
        return found, marks

    # persistence

    def to_dict(self) -> dict[str, Any]:
        return {"v": FORMAT, "child_id": self.child_id, "policy": self.policy, "now": self.now_ms,
                "events": [list(e) for e in self.history], "alerts": self.alerts,
                "wake": self.wakeups, "sent": list(self.sent), "contact": self.last_contact_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChildState:
        if data.get("v") != FORMAT:
            raise ValueError(f"child state format {data.get('v')!r} is not {FORMAT}")
        return cls(data["child_id"], data["policy"], now_ms=data["now"],
                   history=tuple((e[0], e[1], e[2], e[3], e[4]) for e in data["events"]),
                   alerts={rule: {anchor: tuple(rec) for anchor, rec in records.items()}
                           for rule, records in data["alerts"].items()},
                   wakeups=dict(data["wake"]), sent=tuple(data["sent"]),
                   last_contact_ms=data["contact"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChildState) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ChildState({self.child_id!r}, events={len(self.history)}, "
                f"open={len(self.open_alerts())}, next_wakeup_ms={self.next_wakeup_ms})")

    # the compacted child-state topic

    def status_fold(self) -> StatusFold | None:
        """The statuses over a prefix of this history, for a state whose history extends it."""
        return self._status

    def packed_prefix(self) -> tuple[int, bytes] | None:
        """The encoded entries of a prefix of this history (state_codec.py), or None."""
        return self._packed

    def keep_packed_prefix(self, length: int, data: bytes) -> None:
        self._packed = (length, data)

    def snapshot(self) -> dict[str, Any]:
        history = self.history
        fold = self._status
        if fold is None or fold.length != len(history):
            fold = StatusFold.over(history, fold)
            self._status = fold
        open_alerts, marks = self._open_and_marks()
        contact = next((m for m in _CONTACT_PRIORITY if m in marks),
                       "REACHABLE" if self.last_contact_ms is not None else "UNKNOWN")
        return {"child_id": self.child_id, "custody_status": fold.custody, "contact_status": contact,
                "court_status": fold.court, "release_state": fold.release_state,
                "next_hearing_at_ms": fold.next_hearing_at(),
                "last_contact_at_ms": self.last_contact_ms, "open_alerts": open_alerts,
                "last_event_at_ms": self.last_event_at_ms, "events_seen": self.events_seen}


class StatusFold:
    """Custody, court and release status and the hearings still ahead, after the first
    `length` entries of a history, in event-time order. Never changed once made."""

    __slots__ = ("announced", "court", "custody", "length", "pending", "release_state")

    def __init__(self, length: int, custody: str, court: str, release_state: str | None, *,
                 pending: dict[str, int], announced: int | None) -> None:
        self.length = length
        self.custody = custody
        self.court = court
        self.release_state = release_state
        self.pending = pending
        """hearing_id -> hearing_at of the hearings scheduled with no outcome yet"""
        self.announced = announced
        """next_hearing_at of the last HearingAttended"""

    @classmethod
    def over(cls, history: tuple[Entry, ...], start: StatusFold | None = None) -> StatusFold:
        """The fold over `history`, going on from `start`: a fold over a prefix of it."""
        if start is None or start.length > len(history):
            custody, court, release_state = "UNKNOWN", "NO_NTA", None
            pending: dict[str, int] = {}
            announced: int | None = None
            begin = 0
        else:
            custody, court, release_state = start.custody, start.court, start.release_state
            pending, announced, begin = dict(start.pending), start.announced, start.length
        for index in range(begin, len(history)):
            _, _, event_type, kept, _ = history[index]
            custody = CUSTODY.get(event_type, custody)
            fields = kept or {}
            if event_type == "ReleasedToSponsor":
                release_state = fields.get("state")
            if event_type == "HearingScheduled":
                announced = None
                if fields.get("hearing_id") is not None and fields.get("hearing_at") is not None:
                    pending[fields["hearing_id"]] = fields["hearing_at"]
            elif event_type in _HEARING_OUTCOMES:
                pending.pop(fields.get("hearing_id"), None)  # type: ignore[arg-type]
                if event_type == "HearingAttended":
                    announced = fields.get("next_hearing_at")
            elif event_type == "CaseClosed":
                pending.clear()
                announced = None
            if event_type == "HearingAttended":
                court = "HEARING_SCHEDULED" if (pending or announced is not None) else "NTA_FILED"
            elif event_type in COURT and not (event_type == "CaseClosed"
                                               and court == "ORDERED_REMOVED_IN_ABSENTIA"):
                court = COURT[event_type]
        return cls(len(history), custody, court, release_state, pending=pending, announced=announced)

    def next_hearing_at(self) -> int | None:
        upcoming = list(self.pending.values()) + ([self.announced] if self.announced is not None else [])
        return min(upcoming) if upcoming else None
