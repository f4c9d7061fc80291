"""The action contract: what a person did to an alert, as an `AlertAction` Avro record.

Schema: ``schemas/avro/actions/AlertAction/v1.avsc``, on the actions topic, keyed by
child_id. `new_action` turns a submitted form into a checked `Action` (or raises
`ActionRefused` with the field at fault); `Action.to_record` / `Action.from_record` are
the only bridge to Avro, so nothing else here knows the wire format.

Privacy: ids are pseudonymous tokens, the actor is a staff account name. A note is
operators' free text, the one place where a person could type personal data: it is kept
(notes are how a case is worked), limited to `NOTE_MAX_CHARS`, stripped of control
characters, and the console tells its writer to use pseudonymous ids only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from ucwatch.console.roles import Role
from ucwatch.console.subjects import operations_subject
from ucwatch.core.errors import UcwatchError

NOTE_MAX_CHARS = 500
CHILD_TOKEN = re.compile(r"^(SYN-)?CH-[A-Z0-9]{1,32}\Z")
"""A pseudonymous child token (`ucwatch.core.pseudonym`), nothing around it."""
ASSIGNEE = re.compile(r"^(team:)?[a-z][a-z0-9._-]{0,39}\Z")
"""A console user name, or ``team:NAME``."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
E = TypeVar("E", bound=StrEnum)


class ActionKind(StrEnum):
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSIGNED = "ASSIGNED"
    NOTE_ADDED = "NOTE_ADDED"
    SNOOZED = "SNOOZED"
    FOLLOW_UP_RECORDED = "FOLLOW_UP_RECORDED"
    CLOSED_BY_HAND = "CLOSED_BY_HAND"


class FollowUpOutcome(StrEnum):
    LOCATED_HOME_VISIT_DONE = "LOCATED_HOME_VISIT_DONE"
    LOCATED_BY_PHONE = "LOCATED_BY_PHONE"
    LOCATED_BY_PARTNER_AGENCY = "LOCATED_BY_PARTNER_AGENCY"
    NOT_LOCATED = "NOT_LOCATED"
    REFERRED_TO_LAW_ENFORCEMENT = "REFERRED_TO_LAW_ENFORCEMENT"
    REFERRED_TO_CHILD_WELFARE = "REFERRED_TO_CHILD_WELFARE"
    OTHER = "OTHER"


class CloseReason(StrEnum):
    RESOLVED_OUTSIDE_SYSTEM = "RESOLVED_OUTSIDE_SYSTEM"
    DUPLICATE = "DUPLICATE"
    FALSE_ALARM = "FALSE_ALARM"
    DATA_ERROR = "DATA_ERROR"
    OTHER = "OTHER"


class ActionRefused(UcwatchError):
    """A submitted action that breaks the contract; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Action:
    action_id: str
    action: ActionKind
    alert_id: str
    alert_sequence: int
    child_id: str
    actor: str
    role: Role
    at: datetime
    assignee: str | None = None
    note: str | None = None
    snoozed_until: datetime | None = None
    outcome: FollowUpOutcome | None = None
    close_reason: CloseReason | None = None
    synthetic: bool = False

    def to_record(self) -> dict[str, Any]:
        """The Avro-ready record (enums as their symbols, times as aware datetimes)."""
        return {"action_id": self.action_id, "action": self.action.value, "alert_id": self.alert_id,
                "alert_sequence": self.alert_sequence, "child_id": self.child_id, "actor": self.actor,
                "role": self.role.name, "at": self.at, "assignee": self.assignee, "note": self.note,
                "snoozed_until": self.snoozed_until,
                "outcome": self.outcome.value if self.outcome else None,
                "close_reason": self.close_reason.value if self.close_reason else None,
                "synthetic": self.synthetic}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Action:
        """An action read back from the log (decoded with logical types)."""
        return cls(action_id=record["action_id"], action=ActionKind(record["action"]),
                   alert_id=record["alert_id"], alert_sequence=int(record["alert_sequence"]),
                   child_id=record["child_id"], actor=record["actor"], role=Role[record["role"]],
                   at=_aware(record["at"]), assignee=record.get("assignee"), note=record.get("note"),
                   snoozed_until=_aware(record["snoozed_until"]) if record.get("snoozed_until") else None,
                   outcome=FollowUpOutcome(record["outcome"]) if record.get("outcome") else None,
                   close_reason=CloseReason(record["close_reason"]) if record.get("close_reason") else None,
                   synthetic=bool(record.get("synthetic", False)))


def new_action(kind: str, *, alert_id: str, alert_sequence: int, child_id: str, actor: str, role: Role,
               form: dict[str, str], now: datetime, synthetic: bool = False) -> Action:
    """A checked action from a submitted form: each kind takes its own fields, nothing else."""
    try:
        action = ActionKind(kind)
    except ValueError:
        raise ActionRefused(f"unknown action {kind!r}", field="action") from None
    if not CHILD_TOKEN.match(child_id) and operations_subject(child_id) is None:
        # An operations alert (CLOCK_STALLED, FEED_STALLED) carries its subject's key there,
        # and its actions carry the same key, like its changes (console/subjects.py).
        raise ActionRefused("the child id is not a pseudonymous child token (nor an operations alert's key)",
                            field="child_id")
    base = Action(action_id=str(uuid.uuid4()), action=action, alert_id=alert_id, alert_sequence=alert_sequence,
                  child_id=child_id, actor=actor, role=role, at=now, synthetic=synthetic)
    if action is ActionKind.ASSIGNED:
        assignee = form.get("assignee", "").strip().lower()
        if not ASSIGNEE.match(assignee):
            raise ActionRefused("assign to a console user name or team:NAME (letters, digits, . _ -)",
                                field="assignee")
        return replace(base, assignee=assignee)
    if action is ActionKind.NOTE_ADDED:
        return replace(base, note=_note(form, required=True))
    if action is ActionKind.SNOOZED:
        return replace(base, snoozed_until=_snooze_until(form.get("until", ""), now))
    if action is ActionKind.FOLLOW_UP_RECORDED:
        return replace(base, outcome=_choice(FollowUpOutcome, form.get("outcome", ""), "outcome"),
                       note=_note(form, required=False))
    if action is ActionKind.CLOSED_BY_HAND:
        return replace(base, close_reason=_choice(CloseReason, form.get("reason", ""), "reason"),
                       note=_note(form, required=False))
    return base


def _note(form: dict[str, str], *, required: bool) -> str | None:
    text = _CONTROL.sub("", form.get("note", "")).strip()
    if not text:
        if required:
            raise ActionRefused("the note is empty", field="note")
        return None
    if len(text) > NOTE_MAX_CHARS:
        raise ActionRefused(f"a note holds at most {NOTE_MAX_CHARS} characters ({len(text)} given)", field="note")
    return text


def _snooze_until(text: str, now: datetime) -> datetime:
    """A date (the snooze ends at its start, UTC) or an ISO timestamp, in the future."""
    try:
        until = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ActionRefused(f"{text!r} is not a date (YYYY-MM-DD)", field="until") from None
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    if until <= now:
        raise ActionRefused("snooze until a time in the future", field="until")
    return until


def _choice(kind: type[E], text: str, field: str) -> E:
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ActionRefused(f"{field} must be one of {allowed}", field=field) from None


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)
