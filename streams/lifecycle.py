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
    Otherwise RESOLVED and CANCELLED are final (but see 10).
 9. emitted (OPEN, RESOLVED or CANCELLED), still due, and the deadline the history now
    gives differs from the one the alert was raised for, with no schedule of moves (a
    late failed call inside a counted run made an earlier call the N-th in a row): the
    timeline told again from the corrected deadline, OPENED again with the same id and
    the sequence going on, so the last record carries the deadline and start event the
    history gives. (A keyed rule's moves are cases 5 and 7.)
10. RESOLVED or CANCELLED, and a late event shows that it ended earlier, by event time,
    than the end emitted (or at a lower severity: the end came before an escalation
    that was emitted): the same end again, at the earlier event and with the severity
    the alert had then; the reason names the escalation that did not apply. The last
    record then carries the true end time, which time-to-resolution figures read.

11. never emitted (or RETRACTED or WITHDRAWN), due, but held (`hold`: a source the rule
    awaits is not complete up to the deadline, or a known outage covers it): PENDING at
    the deadline, not notified. While held, nothing more.
12. PENDING and no longer held: the timeline of case 1 (OPENED at the deadline, so the
    record still says when the child became overdue), the sequence going on.
13. PENDING, and the follow-up or a closure came on or before the deadline, the deadline
    moved, or the instance is gone: WITHDRAWN (it never was an alert; kept for the record).

A RETRACTED change of cases 4 and 5 carries, in its reason, the event that showed the
false alarm and when it occurred; engine.py sends the correction notices from it.

Whatever order the events arrive in, the alerts that are not RETRACTED end in the same
status as if every event had arrived on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ucwatch.streams.compiled import CompiledRule
from ucwatch.streams.derive import DUE, MET, NONE_CANCELLED, NONE_MET, PENDING, Instance
from ucwatch.streams.durations import format_duration, iso
from ucwatch.streams.policy import SEVERITY_RANK

OPEN, RESOLVED, RETRACTED, CANCELLED = "OPEN", "RESOLVED", "RETRACTED", "CANCELLED"
OPENED, ESCALATED = "OPENED", "ESCALATED"
HELD, WITHDRAWN = "PENDING", "WITHDRAWN"   # change and status alike (AlertChanged v2)
UNRAISED = frozenset({RETRACTED, WITHDRAWN, HELD})
"""Statuses under which an alert is not raised: a due instance may be held (case 11)."""
REDATED = "REDATED"   # a reason spec only: OPENED again at a corrected deadline (case 9)
ENDED = frozenset({RESOLVED, CANCELLED})

Change = tuple[str, str, str, int, Any]
"""(change, status, severity, fired_at_ms, reason: a str, or a spec tuple for `reason_text`)"""


def reason_text(reason: str | tuple[Any, ...], r: CompiledRule) -> str:
    """The text of a change's reason. Timelines are derived far more often than emitted, so
    the texts that need formatting are only made for the changes that are emitted."""
    if isinstance(reason, str):
        return reason
    if reason[0] == ESCALATED:
        return f"{r.rule.reason}; escalated to {reason[1]} after {format_duration(reason[2])}"
    if reason[0] == RETRACTED:
        return f"{reason[1]} (at {iso(reason[2])})"
    if reason[0] == REDATED:
        return (f"{r.rule.reason}; dated again from {iso(reason[1])}: events that arrived later "
                f"made {reason[2]} the start")
    return f"{reason[1]} occurred {format_duration(reason[2])} after the deadline"


def fact_time(reason: str | tuple[Any, ...]) -> int | None:
    """When the event that retracted an alert occurred (None when no single event did)."""
    if isinstance(reason, tuple) and reason[0] == RETRACTED:
        return int(reason[2])
    return None


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


def advance(record: Sequence[Any] | None, inst: Instance | None, kind: int | None,  # noqa: PLR0911, PLR0917  a return per case; hot path
            r: CompiledRule, now: int, hold: tuple[str, int | None] | None = None,
            ) -> tuple[list[Change], int | None]:
    """`hold`: why a due instance must wait, and when to look again (case 11); the engine
    asks the watermarks only for a due instance whose record is not raised."""
    if record is None or record[1] in (RETRACTED, WITHDRAWN):  # cases 1, 2, 7, 11
        if kind == DUE:
            if hold is not None:
                return [(HELD, HELD, r.severity, inst.deadline, hold[0])], hold[1]  # type: ignore[union-attr]
            return timeline(inst, r, now)  # type: ignore[arg-type]
        return [], inst.deadline if kind == PENDING else None  # type: ignore[union-attr]
    status, severity = record[1], record[2]
    if status == HELD:                                               # cases 12, 13
        return _held(record, inst, kind, r, now, hold)
    if inst is None:                                                 # case 6
        return [(RETRACTED, RETRACTED, severity, now,
                 "no longer applies: events that arrived later changed the history")], None
    if kind == DUE and inst.deadline != record[4] and not inst.schedule:  # case 9
        return _redated(inst, r, now, record[4])
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
        return _withdrawn(record, inst, kind, severity, now=now, status=status), wake
    if kind == DUE:
        return _due_again(record, inst, r, now)
    return [], wake


def _held(record: Sequence[Any], inst: Instance | None, kind: int | None, r: CompiledRule, now: int,  # noqa: PLR0917
          hold: tuple[str, int | None] | None) -> tuple[list[Change], int | None]:
    if kind == DUE:
        if hold is not None:
            return [], hold[1]
        return timeline(inst, r, now)  # type: ignore[arg-type]                  # case 12
    if inst is None:
        text = "no longer applies: events that arrived later changed the history"
    elif kind == NONE_MET:
        text = f"{inst.end[2]} occurred on or before the deadline (at {iso(inst.end[0])})"  # type: ignore[index]
    elif kind == NONE_CANCELLED:
        text = f"case closed ({inst.end[2]}) on or before the deadline"  # type: ignore[index]
    else:
        text = f"{inst.start[2]} moved the deadline to {iso(inst.deadline)}"
    wake = inst.deadline if inst is not None and kind == PENDING else None
    return [(WITHDRAWN, WITHDRAWN, record[2], now, text)], wake                  # case 13


def _due_again(record: Sequence[Any], inst: Instance, r: CompiledRule, now: int) -> tuple[list[Change], int | None]:
    """Cases 3 (an open alert that ended after its deadline), 7, 8 and 10."""
    status, severity = record[1], record[2]
    items, wake = timeline(inst, r, now)
    if status == OPEN:                                               # case 3
        rank = SEVERITY_RANK[severity]
        items = [c for c in items[1:] if c[0] != ESCALATED or SEVERITY_RANK[c[2]] > rank]
        if items and items[-1][1] in ENDED:                          # (an escalation may not apply)
            items[-1:] = _ended_earlier([*record[:7], None], items[-1], r) or items[-1:]
        return items, wake
    if items[-1][1] == OPEN:                                         # case 7
        return items, wake
    if items[-1][1] != status:                                       # case 8
        return [items[-1]], None
    return _ended_earlier(record, items[-1], r), None               # case 10


def _withdrawn(record: Sequence[Any], inst: Instance, kind: int, severity: str, *, now: int,
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
            return [(RETRACTED, RETRACTED, severity, now, (RETRACTED, text, at))]
    if status != OPEN:
        return []
    at, change, text = min(facts)
    return [(change, change, severity, at, text)]


def _redated(inst: Instance, r: CompiledRule, now: int, raised_for: int) -> tuple[list[Change], int | None]:
    """Case 9: the whole timeline again from the deadline the history now gives."""
    items, wake = timeline(inst, r, now)
    _, status_, severity, at, _ = items[0]
    items[0] = (OPENED, status_, severity, at, (REDATED, raised_for, f"{inst.start[2]} {inst.start[1]}"))
    return items, wake


def _ended_earlier(record: Sequence[Any], end: Change, r: CompiledRule) -> list[Change]:
    """Case 10: the end the history gives, if it came before the end emitted (record[7],
    absent in older states) or before an escalation that was emitted."""
    change, status_, severity, at, reason = end
    emitted_end = record[7] if len(record) > 7 else None
    dropped = SEVERITY_RANK[severity] < SEVERITY_RANK[record[2]]
    if not dropped and (emitted_end is None or at >= emitted_end):
        return []
    text = reason_text(reason, r)
    if dropped:
        text = f"{text}, before the escalation to {record[2]}, which did not apply"
    return [(change, status_, severity, at, text)]
