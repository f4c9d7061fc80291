"""The alert state machine: from what was emitted and what the history now says, the changes.

`advance(record, instance, kind, rule, now)` compares the last change emitted for one
alert (`record`, None if never emitted) with the instance derived from the current
history (`instance`, None if it no longer exists; `kind` from derive.status) and
returns the changes still to emit, oldest first, plus the next instant something can
become due. The cases are numbered as in docs/detect.md:

 1. never emitted (or RETRACTED) and due: the whole timeline up to now, OPENED at the
    deadline, ESCALATED at each escalation reached while open, then RESOLVED at the
    awaited event or CANCELLED at a closure, if the history already has one. A story
    learnt late is still told, at its event times.
 2. never emitted, and met or closed on or before the deadline, or still pending:
    nothing (pending: wake up at the deadline).
 3. OPEN and still due: the escalations not yet emitted, then RESOLVED or CANCELLED if
    the awaited event or a closure has come (after the deadline).
 4. emitted (OPEN, RESOLVED or CANCELLED), and a late event shows that the follow-up, or
    the closure of the case, occurred on or before the deadline the alert was raised for:
    RETRACTED (a false alarm, kept).
 5. OPEN, and the deadline moved (a rescheduled hearing) so that it is no longer due:
    RETRACTED if the move occurred on or before the deadline the alert was raised for,
    else RESOLVED at the move (CANCELLED if a closure came first).
 6. emitted, and the instance no longer exists (a late contact broke a counted run, a
    late closure put the start inside a closed case): RETRACTED.
 7. RESOLVED, CANCELLED or RETRACTED, and the (moved) deadline passed unmet: OPENED
    again, same id, the sequence going on.
 8. RESOLVED and a late closure shows the case closed (after the deadline) before the
    awaited event: CANCELLED at the closure; CANCELLED and a late event shows the
    awaited event came (after the deadline) before the closure: RESOLVED at that event.
    Otherwise RESOLVED and CANCELLED are final.

Whatever order the events arrive in, the alerts that are not RETRACTED end in the same
status as if every event had arrived on time.
"""

from __future__ import annotations

from typing import Any

from ucwatch.streams.compiled import CompiledRule
from ucwatch.streams.derive import DUE, MET, NONE_CANCELLED, NONE_MET, PENDING, Instance
from ucwatch.streams.durations import format_duration, iso
from ucwatch.streams.policy import SEVERITY_RANK

OPEN, RESOLVED, RETRACTED, CANCELLED = "OPEN", "RESOLVED", "RETRACTED", "CANCELLED"
OPENED, ESCALATED = "OPENED", "ESCALATED"

Change = tuple[str, str, str, int, Any]
"""(change, status, severity, fired_at_ms, reason: a str, or a spec tuple for `reason_text`)"""


def reason_text(reason: str | tuple[Any, ...], r: CompiledRule) -> str:
    """The text of a change's reason. Timelines are derived far more often than emitted, so
    the texts that need formatting are only made for the changes that are emitted."""
    if isinstance(reason, str):
        return reason
    if reason[0] == ESCALATED:
        return f"{r.rule.reason}; escalated to {reason[1]} after {format_duration(reason[2])}"
    return f"{reason[1]} occurred {format_duration(reason[2])} after the deadline"


def timeline(inst: Instance, r: CompiledRule, now: int) -> tuple[list[Change], int | None]:
    """The changes of a due instance up to `now`, and when its next escalation is due."""
    deadline = inst.deadline
    severity = r.severity
    out: list[Change] = [(OPENED, OPEN, severity, deadline, r.rule.reason)]
    end = inst.end
    end_at = end[0] if end is not None else None
    wake = None
    for after, level in r.escalations:
        at = inst.base + after
        if end_at is not None and at >= end_at:
            break
        if at > now:
            wake = at
            break
        severity = level
        out.append((ESCALATED, OPEN, level, at, (ESCALATED, level, after)))
    if end is not None:
        ended_at = end[0]
        if inst.end_kind == MET:
            out.append((RESOLVED, RESOLVED, severity, ended_at, (RESOLVED, end[2], ended_at - deadline)))
        else:
            out.append((CANCELLED, CANCELLED, severity, ended_at, f"case closed ({end[2]})"))
    return out, wake


def advance(record: list[Any] | None, inst: Instance | None, kind: int | None,  # noqa: PLR0911  a return per case
            r: CompiledRule, now: int) -> tuple[list[Change], int | None]:
    status = record[1] if record is not None else None
    if status is None or status == RETRACTED:                       # cases 1, 2, 7
        if kind == DUE:
            return timeline(inst, r, now)  # type: ignore[arg-type]
        return [], inst.deadline if kind == PENDING else None  # type: ignore[union-attr]
    severity = record[2]  # type: ignore[index]
    if inst is None:                                                 # case 6
        return [(RETRACTED, RETRACTED, severity, now,
                 "no longer applies: events that arrived later changed the history")], None
    if kind == DUE and status == OPEN and inst.end is None:         # case 3, the usual one
        rank = SEVERITY_RANK[severity]
        items: list[Change] = []
        for after, level in r.escalations:
            if SEVERITY_RANK[level] > rank:
                at = inst.base + after
                if at > now:
                    return items, at
                items.append((ESCALATED, OPEN, level, at, (ESCALATED, level, after)))
        return items, None
    wake = inst.deadline if kind == PENDING else None
    if kind in (NONE_MET, NONE_CANCELLED) or (kind == PENDING and status == OPEN):  # cases 4, 5
        return _withdrawn(record, inst, kind, severity, now=now, status=status), wake  # type: ignore[arg-type]
    if kind == DUE:
        items, wake = timeline(inst, r, now)
        if status == OPEN:                                           # case 3
            rank = SEVERITY_RANK[severity]
            return [c for c in items[1:] if c[0] != ESCALATED or SEVERITY_RANK[c[2]] > rank], wake
        if items[-1][1] == OPEN:                                     # case 7
            return items, wake
        if items[-1][1] != status:                                   # case 8
            return [items[-1]], None
        return [], None
    return [], wake


def _withdrawn(record: list[Any], inst: Instance, kind: int, severity: str, *, now: int,
               status: str) -> list[Change]:
    """An emitted alert that the history no longer holds due at the deadline it was raised
    for (record[4]): its follow-up or a closure came in time for the present deadline, or
    the deadline moved (a repeat start). A false alarm if any of those occurred on or
    before the deadline the alert was raised for; else an open alert ends at the earliest."""
    raised_for = record[4]
    facts = []
    end = inst.end
    if kind == NONE_MET:
        facts.append((end[0], RESOLVED, f"{end[2]} occurred on or before the deadline"))  # type: ignore[index]
    elif kind == NONE_CANCELLED:
        facts.append((end[0], CANCELLED, f"case closed ({end[2]}) on or before the deadline"))  # type: ignore[index]
    if inst.deadline != raised_for:
        moved = f"{inst.start[2]} moved the deadline to {iso(inst.deadline)}"
        if inst.schedule:
            in_force, moved_at = inst.deadline_in_force(raised_for)
            if in_force != raised_for or moved_at is None:   # already moved when raised
                facts.append((raised_for, RESOLVED, moved))
            else:
                facts.append((moved_at, RESOLVED, moved))
        else:
            facts.append((inst.start[0], RESOLVED, moved))
    for at, _, text in facts:
        if at <= raised_for:
            return [(RETRACTED, RETRACTED, severity, now, text)]
    if status != OPEN:
        return []
    at, change, text = min(facts)
    return [(change, change, severity, at, text)]
