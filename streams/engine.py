"""The two entry points of detection: an event arrived, or the clock advanced.

    engine = Engine(policy)
    step = engine.on_event(state, event, now_ms)   # state None for a child never seen
    step = engine.on_time(state, now_ms)           # when now_ms >= state.next_wakeup_ms
    step = engine.on_marks(state, now_ms, marks)   # a watermark moved: look at PENDING alerts

`marks` (optional, all three): the partition's source watermarks (watermarks.py). With
them, an alert due while a source its rule awaits is not complete up to the deadline is
PENDING instead of OPEN (lifecycle.py, cases 11-13); without them, or for sources with no
watermark, alerts open at the deadline as they always did.

Both are pure: the result depends only on the arguments (never the wall clock), and the
state passed in is never modified; `Step.state` is the new state (the same object when
nothing changed). `event` is a decoded lifecycle event with the schema's field names and
its timestamps (occurred_at, recorded_at, hearing_at, next_hearing_at) as int UTC
milliseconds. A repeat of an event_id changes nothing and emits nothing.

How: the event joins the child's history at its event time; each rule the event can
concern (by its matcher mask), and each rule with something due by `now`, is derived
again (derive.py: going on from where the rule's pass stopped when the event is the
latest in event time, else over the whole history) and compared with what was already
emitted (lifecycle.py); only the differences are emitted.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from ucwatch.core.errors import ContractError
from ucwatch.streams.compiled import CompiledPolicy, CompiledRule
from ucwatch.streams.derive import DUE, MET, NONE_CANCELLED, NONE_MET, PENDING, Fold, new_fold, start_order
from ucwatch.streams.ids import alert_id, notification_id
from ucwatch.streams.lifecycle import (
    ENDED,
    HELD,
    OPEN,
    OPENED,
    RETRACTED,
    UNRAISED,
    WITHDRAWN,
    Change,
    advance,
    fact_time,
    reason_text,
)
from ucwatch.streams.policy import Policy
from ucwatch.streams.state import ChildState, Entry, Record

_EMPTY: dict[str, Record] = {}
_EMPTY_RECORDS: dict[str, Record] = {}
FULL, FEED, WAIT, KEEP = 0, 1, 2, 3
_LONG_AGO = -(2 ** 62)


class Marks(Protocol):
    """The source watermarks the engine asks (watermarks.PartitionMarks)."""

    def hold(self, sources: tuple[str, ...], deadline: int, now: int) -> tuple[str, int | None] | None: ...


def _rule_order(item: tuple[CompiledRule, int]) -> int:
    return item[0].index


@mypyc_attr(native_class=False)  # `_made` fills its __dict__ (ucwatch/core/native.py)
@dataclass(frozen=True)
class AlertChange:
    alert_id: str
    child_id: str
    rule: str
    change: str          # OPENED, ESCALATED, RESOLVED, RETRACTED, CANCELLED, PENDING, WITHDRAWN
    status: str          # OPEN, RESOLVED, RETRACTED, CANCELLED, PENDING, WITHDRAWN
    severity: str
    deadline_ms: int
    fired_at_ms: int     # event time of the change: the deadline for OPENED, the escalation
                         # instant, the resolving or cancelling event's occurred_at, now for RETRACTED
    reason: str
    start_event_id: str
    basis: str
    sequence: int        # 1, 2, 3... per alert_id


@mypyc_attr(native_class=False)  # `_made` fills its __dict__ (ucwatch/core/native.py)
@dataclass(frozen=True)
class Notification:
    notification_id: str
    child_id: str
    recipient: str       # HHS, ICE
    kind: str            # FAILURE_TO_APPEAR, UNAUTHORIZED_DEPARTURE, NOT_WITH_SPONSOR, ..., CORRECTION
    fact_event_id: str   # the event notified about, or the alert id for an alert (also for a CORRECTION)
    occurred_at_ms: int  # for a CORRECTION: when the event that showed the false alarm occurred
    reason: str
    corrects_notification_id: str | None = None   # a CORRECTION: the notice it withdraws


CORRECTION = "CORRECTION"


@mypyc_attr(native_class=False)  # `_made` fills its __dict__ (ucwatch/core/native.py)
@dataclass(frozen=True)
class Step:
    state: ChildState
    alerts: list[AlertChange]
    notifications: list[Notification]
    changed: bool


def _step(state: ChildState, alerts: list[AlertChange], notifications: list[Notification],
          changed: bool) -> Step:
    """Step(state, alerts, notifications, changed), without the frozen dataclass's __init__
    (an object.__setattr__ call per field): this runs once per event."""
    step = _new(Step)
    fields = step.__dict__
    fields["state"], fields["alerts"], fields["notifications"], fields["changed"] = (
        state, alerts, notifications, changed)
    return step


def _made(cls: type, fields: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass `cls` holding `fields` (all of them), made the
    same way as `_step`."""
    made: Any = _new(cls)
    made.__dict__.update(fields)
    return made


_new = object.__new__


class Engine:
    def __init__(self, policy: Policy, *, resume: bool = True) -> None:
        """`resume=False` derives every concerned rule from the whole history each time
        (same results, slower): for tests that check the two agree."""
        self.policy = policy
        self.resume = resume
        self._c = CompiledPolicy(policy)
        # folds are never changed in place, so every child and every pass over a whole
        # history can start from the same ones
        self._empty_folds = tuple(new_fold(r, self._c.close_bits, self._c.reopen_bits) for r in self._c.rules)

    def sources(self, rule: str) -> tuple[str, ...]:
        """The sources whose watermarks `rule`'s alerts wait for (none for an unknown rule)."""
        compiled = self._c.by_name.get(rule)
        return compiled.sources if compiled is not None else ()

    def on_event(self, state: ChildState | None, event: Mapping[str, Any], now_ms: int,
                 marks: Marks | None = None) -> Step:
        c = self._c
        try:
            event_id, event_type = event["event_id"], event["event_type"]
            child_id, occurred = event["child_id"], event["occurred_at"]
        except KeyError as exc:
            raise ContractError("missing_field", f"event lacks {exc.args[0]!r}", field=exc.args[0]) from None
        if state is None:
            state = ChildState(child_id, c.fingerprint, folds=self._empty_folds if self.resume else None)
        elif state.child_id != child_id:
            raise ValueError(f"event of child {child_id!r} given the state of {state.child_id!r}")
        ids = state.event_ids
        if event_id in ids:
            return _step(state, [], [], False)
        if type(occurred) is not int or c.timestamp_fields(event_type):
            _check_times(event, event_type, occurred, c.timestamp_fields(event_type))
        changes: list[AlertChange] = []
        notes: list[Notification] = []
        now = now_ms if state.now_ms is None or now_ms > state.now_ms else state.now_ms
        if state.policy != c.fingerprint:
            state = self._rematch(state, now, changes)

        mask, kept = c.read(event, event_type)
        entry: Entry = (occurred, event_id, event_type, kept, mask)
        history = state.history
        appended = not history or entry > history[-1]
        if appended:
            history = (*history, entry)
        else:
            position = bisect(history, entry)
            history = (*history[:position], entry, *history[position:])
        sent = state.sent
        if mask & c.notice_bits:
            sent = self._notify_event(state.child_id, event_id, occurred, mask, sent, notes)
        contact = state.last_contact_ms
        if mask & c.contact_bits and (contact is None or occurred > contact):
            contact = occurred

        # a reopening event reopens nothing when no case was closed before it
        reopens = bool(mask & c.reopen_bits) and any(e[4] & c.close_bits for e in state.history if e < entry)
        hits = c.hits(mask, reopens)
        plan = self._plan_event(state, hits, appended, bool(mask & c.close_bits), now)
        alerts, wakeups, sent, folds = self._derive(state, history, entry, hits[0], plan, now, sent, changes,
                                                    notes, marks)
        new = ChildState(state.child_id, c.fingerprint, now, history, alerts, wakeups, sent, contact,
                         ids | {event_id}, folds, state.status_fold() if appended else None,
                         state.packed_prefix() if appended else None)
        return _step(new, changes, notes, True)

    def on_time(self, state: ChildState, now_ms: int, marks: Marks | None = None, *,
                held: bool = False) -> Step:
        """`held`: also derive again every rule with a PENDING alert (see on_marks)."""
        c = self._c
        changes: list[AlertChange] = []
        now = now_ms if state.now_ms is None or now_ms > state.now_ms else state.now_ms
        if state.policy != c.fingerprint:
            state = self._rematch(state, now, changes)
        wakeups, folds = state.wakeups, state.folds
        plan = [(r, WAIT if folds is not None and folds[r.index] is not None else FULL)
                for r in c.rules if r.name in wakeups and wakeups[r.name] <= now]
        if held:
            planned = {r for r, _ in plan}
            plan.extend((r, FULL) for r in c.rules if r not in planned and any(
                rec[1] == HELD for rec in state.alerts.get(r.name, _EMPTY_RECORDS).values()))
            plan.sort(key=_rule_order)
        if not plan and not changes:
            return _step(state, [], [], False)
        notes: list[Notification] = []
        alerts, wakeups, sent, folds = self._derive(state, state.history, None, (), plan, now, state.sent,
                                                    changes, notes, marks)
        new = ChildState(state.child_id, c.fingerprint, now, state.history, alerts, wakeups, sent,
                         state.last_contact_ms, state.event_ids, folds, state.status_fold(), state.packed_prefix())
        return _step(new, changes, notes, True)

    def on_marks(self, state: ChildState, now_ms: int, marks: Marks) -> Step:
        """A watermark moved: the child's PENDING alerts (and anything due) looked at again."""
        return self.on_time(state, now_ms, marks, held=True)

    # which rules to derive again, and how

    def _plan_event(self, state: ChildState, hits: tuple[tuple[CompiledRule, ...], frozenset[CompiledRule]],
                    appended: bool, closes: bool, now: int) -> list[tuple[CompiledRule, int]]:
        """FEED (go on with the rule's fold: the event came last in event time), FULL
        (derive from the whole history), WAIT (only the waiting instances: nothing but the
        clock changed for that rule) or KEEP (the fold stays valid and nothing can change:
        the event came last and can only meet or cancel, and no instance is waiting)."""
        c = self._c
        folds, wakeups, alerts = state.folds, state.wakeups, state.alerts
        if not self.resume:
            folds = None
        concerned, starts = hits
        plan = []
        for r in concerned:
            fold = folds[r.index] if folds is not None else None
            if fold is not None and appended:
                if r in starts or fold.awaiting or fold.keeps_earlier or closes:
                    plan.append((r, FEED))
                else:
                    plan.append((r, KEEP))    # it can only meet or cancel, and nothing waits
            elif r in starts or r.name in wakeups or r.name in alerts:
                plan.append((r, FULL))
        next_wakeup = state.next_wakeup_ms
        if next_wakeup is not None and next_wakeup <= now:
            planned = {r for r, _ in plan}
            for r in c.rules:
                if r not in planned and r.name in wakeups and wakeups[r.name] <= now:
                    plan.append((r, WAIT if folds is not None and folds[r.index] is not None else FULL))
            plan.sort(key=_rule_order)
        return plan

    # The engine's step, in one frame: it runs per event and per rule concerned.
    def _derive(self, state: ChildState, history: tuple[Entry, ...],  # noqa: PLR0912, PLR0915, PLR0917
                entry: Entry | None, concerned: tuple[CompiledRule, ...],
                plan: list[tuple[CompiledRule, int]], now: int, sent: tuple[str, ...],
                changes: list[AlertChange], notes: list[Notification], marks: Marks | None = None,
                ) -> tuple[dict[str, dict[str, Record]], dict[str, int], tuple[str, ...],
                           tuple[Fold | None, ...] | None]:
        """Derive the planned rules, emit what changed; returns the new alerts, wakeups, sent
        and folds of the state."""
        c = self._c
        child_id = state.child_id
        alerts = state.alerts
        new_alerts = None
        wakeups = state.wakeups
        new_wakeups = None
        old_folds = state.folds if self.resume else None
        folds: list[Fold | None] = list(old_folds) if old_folds is not None else [None] * len(c.rules)
        for r in concerned:      # a rule the new entry concerns keeps a fold only if fed
            folds[r.index] = None
        for r, mode in plan:
            if mode == KEEP:
                folds[r.index] = old_folds[r.index]  # type: ignore[index]
                continue
            emitted = alerts.get(r.name, _EMPTY)
            if mode == FEED:
                fold, found = old_folds[r.index].fed((entry,), emitted)  # type: ignore[index]
            elif mode == WAIT:
                fold = old_folds[r.index]  # type: ignore[index]
                found = list(fold.awaiting)
            else:
                fold, found = self._empty_folds[r.index].fed(history, emitted)
            if len(found) > 1:
                found.sort(key=start_order)
            folds[r.index] = fold
            updated: dict[str, Record] | None = None
            wake = None
            seen: set[str] | None = set() if emitted and mode == FULL else None
            for inst in found:
                end = inst.end
                if end is not None and end[0] <= inst.deadline:
                    kind = NONE_MET if inst.end_kind == MET else NONE_CANCELLED
                else:
                    kind = PENDING if now < inst.deadline else DUE
                anchor = inst.anchor
                record = emitted.get(anchor) if emitted else None
                if seen is not None:
                    seen.add(anchor)
                if record is None:
                    if kind == PENDING:
                        if wake is None or inst.deadline < wake:
                            wake = inst.deadline
                        continue
                    if kind != DUE:
                        continue
                hold = None
                if (marks is not None and kind == DUE and r.sources
                        and (record is None or record[1] in UNRAISED)):
                    hold = marks.hold(r.sources, inst.deadline, now)
                items, at = advance(record, inst, kind, r, now, hold)
                if at is not None and (wake is None or at < wake):
                    wake = at
                if items:
                    record = self._emit(child_id, r, anchor, record, inst.deadline, inst.start[1], items, changes)
                    sent = self._notify_alert(child_id, r, record, items, sent, notes)
                    if updated is None:
                        updated = {}
                    updated[anchor] = record
            if seen is not None:
                for anchor, record in emitted.items():
                    if anchor not in seen:
                        items, _ = advance(record, None, None, r, now)
                        if items:
                            if updated is None:
                                updated = {}
                            updated[anchor] = self._emit(child_id, r, anchor, record, record[4], record[5],
                                                         items, changes)
                            sent = self._notify_alert(child_id, r, updated[anchor], items, sent, notes)
            if updated:
                if new_alerts is None:
                    new_alerts = dict(alerts)
                new_alerts[r.name] = {**emitted, **updated}
            if wakeups.get(r.name) != wake:
                if new_wakeups is None:
                    new_wakeups = dict(wakeups)
                if wake is None:
                    del new_wakeups[r.name]
                else:
                    new_wakeups[r.name] = wake
        return (new_alerts if new_alerts is not None else alerts,
                new_wakeups if new_wakeups is not None else wakeups, sent,
                tuple(folds) if self.resume else None)

    @staticmethod
    def _emit(child_id: str, r: CompiledRule, anchor: str, record: Record | None,  # noqa: PLR0917  hot path
              deadline: int, start_event_id: str, items: list[Change], changes: list[AlertChange]) -> Record:
        """AlertChanges of `items`, and the alert's new record. An alert's deadline_ms is that
        of its episode: the deadline it was OPENED for, until it opens again."""
        the_id = record[0] if record is not None else alert_id(child_id, r.name, anchor)
        sequence = record[3] if record is not None else 0
        episode = record[4] if record is not None else deadline
        basis = r.rule.basis
        for change, status_, severity, fired_at, reason in items:
            sequence += 1
            if change in (OPENED, HELD):
                episode = deadline
            changes.append(_made(AlertChange, {
                "alert_id": the_id, "child_id": child_id, "rule": r.name, "change": change, "status": status_,
                "severity": severity, "deadline_ms": episode, "fired_at_ms": fired_at,
                "reason": reason_text(reason, r), "start_event_id": start_event_id, "basis": basis,
                "sequence": sequence}))
        _, status_, severity, fired_at, _ = items[-1]
        return (the_id, status_, severity, sequence, episode, start_event_id,
                r.rule.contact_status if status_ == OPEN else None,
                fired_at if status_ in ENDED else None)

    @staticmethod
    def _notify_alert(child_id: str, r: CompiledRule, record: Record, items: list[Change],  # noqa: PLR0917
                      sent: tuple[str, ...],
                      notes: list[Notification]) -> tuple[str, ...]:
        """The notices of an alert that opened, and the corrections of those sent for an alert
        now RETRACTED (a false alarm)."""
        rule = r.rule
        if not rule.notify:
            return sent
        the_id = record[0]
        sequence = record[3] - len(items)
        for change, _, _, fired_at, reason in items:
            sequence += 1
            if change == OPENED:
                sent = _notify_once(child_id, rule.notify_kind, rule.notify, the_id, fired_at, rule.reason,
                                    sent, notes)
            elif change == RETRACTED:
                sent = _correct(child_id, r, the_id, sequence, fired_at, reason, sent, notes)
        return sent

    def _notify_event(self, child_id: str, event_id: str, occurred: int, mask: int,  # noqa: PLR0917  positional: built in the hot loop
                      sent: tuple[str, ...], notes: list[Notification]) -> tuple[str, ...]:
        for bits, notice in self._c.notices:
            if mask & bits:
                sent = _notify_once(child_id, notice.kind, notice.recipients, event_id, occurred,
                                    notice.reason, sent, notes)
        return sent

    # a state made under another policy

    def _rematch(self, state: ChildState, now: int, changes: list[AlertChange]) -> ChildState:
        """The state's history matched against this policy; open alerts of rules it no longer
        has are retracted (nothing silently dropped), every rule will be derived again."""
        c = self._c
        history = tuple((t, eid, etype, fields, c.mask({**(fields or {}), "event_type": etype}, etype))
                        for t, eid, etype, fields, _ in state.history)
        contacts = [e[0] for e in history if e[4] & c.contact_bits]
        alerts = {}
        for rule, records in state.alerts.items():
            if rule in c.by_name:
                alerts[rule] = records
                continue
            kept = {}
            for anchor, rec in records.items():
                if rec[1] in (HELD, OPEN):  # a pending alert is withdrawn, an open one retracted
                    ended = WITHDRAWN if rec[1] == HELD else RETRACTED
                    sequence = rec[3] + 1
                    changes.append(AlertChange(rec[0], state.child_id, rule, ended, ended, rec[2],
                                               rec[4], now, f"rule {rule} is no longer in the policy",
                                               rec[5], "", sequence))
                    kept[anchor] = (rec[0], ended, rec[2], sequence, rec[4], rec[5], None, None)
                else:
                    kept[anchor] = rec
            alerts[rule] = kept
        # every rule is due at once, so the step that rematched derives them all again
        due = {r.name: _LONG_AGO for r in c.rules}
        return ChildState(state.child_id, c.fingerprint, state.now_ms, history, alerts, due, state.sent,
                          max(contacts) if contacts else None, state._ids)


def _check_times(event: Mapping[str, Any], event_type: str, occurred: Any, fields: tuple[str, ...]) -> None:
    if type(occurred) is not int:
        raise ContractError("bad_timestamp", f"occurred_at must be int UTC milliseconds, not "
                                             f"{type(occurred).__name__}", field="occurred_at",
                            event_type=event_type)
    for name in fields:
        value = event.get(name)
        if value is not None and type(value) is not int:
            raise ContractError("bad_timestamp", f"{name} must be int UTC milliseconds, not "
                                                 f"{type(value).__name__}", field=name, event_type=event_type)


def _correct(child_id: str, r: CompiledRule, alert: str, sequence: int, fired_at: int,  # noqa: PLR0917
             reason: Any, sent: tuple[str, ...], notes: list[Notification]) -> tuple[str, ...]:
    """A CORRECTION to each recipient that was sent a notice of the alert now retracted, once
    per retraction: its id is made from the original notice id and the retraction's sequence."""
    rule = r.rule
    at = fact_time(reason)
    why = reason_text(reason, r)
    for recipient in rule.notify:
        original = notification_id(child_id, rule.notify_kind, recipient, alert)
        if original not in sent:
            continue
        nid = notification_id(child_id, CORRECTION, recipient, f"{original}|{sequence}")
        if nid in sent:
            continue
        sent = (*sent, nid)
        notes.append(Notification(
            nid, child_id, recipient, CORRECTION, alert, at if at is not None else fired_at,
            f"withdraws notice {original} ({rule.notify_kind}): alert {alert} of {rule.name} was a false "
            f"alarm: {why}", original))
    return sent


def _notify_once(child_id: str, kind: str, recipients: Any, fact_id: str, at_ms: int, reason: str,  # noqa: PLR0917  positional: built in the hot loop
                 sent: tuple[str, ...], notes: list[Notification]) -> tuple[str, ...]:
    """Appends a notification per recipient not yet told of this fact; returns the new `sent`."""
    for recipient in recipients:
        nid = notification_id(child_id, kind, recipient, fact_id)
        if nid not in sent:
            sent = (*sent, nid)
            notes.append(Notification(nid, child_id, recipient, kind, fact_id, at_ms, reason))
    return sent
