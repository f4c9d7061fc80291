"""Each expectation of one rule, derived from a child's history (pure; no state, no clock).

One forward pass over the history, in event-time order, finds the rule's instances:

- a start event in an open case begins an instance, anchored on the start's event_id;
  with ``key`` the instances are per key value and a repeat start moves the deadline
  (latest start wins); with ``count = N`` the N-th start in a row since the last reset
  event begins one, anchored on the first start of that run (so the reset arriving late,
  or a later start of the run arriving late, does not change the alert id);
- its deadline is the start's occurred_at (or the ``from`` field) plus the rule's delay;
- it ends at the first later cancelling event or met event (cancel wins a tie), a met
  event with ``same`` only for the instance whose start has the same value; with
  ``met_any_time`` an earlier met event ends it at once;
- a start inside a closed case (after a closure, before a reopening) begins nothing; if
  such an instance had already been emitted it is returned as ended by that closure, so
  the engine can cancel it.

The pass is a fold, and a `Fold` is where it stopped: `fold.fed(entries, emitted)` goes
on over the next entries and returns the new fold (the old one is never changed) and the
instances that can need a change: those the entries started, ended or moved, and those
still waiting for an end. An instance met or cancelled on or before its deadline is left
out unless its anchor was emitted, since nothing can change for it any more. So an event
that arrives last in event time (most do) costs the work of one entry, not of the whole
history; `new_fold(...).fed(history, ...)` derives from scratch and returns every such
instance. `status` says, at a given `now`, whether an instance was met or cancelled in
time (nothing to report), is pending, or is due: an alert whose timeline lifecycle.py
turns into changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ucwatch.streams.compiled import CompiledRule
from ucwatch.streams.state import Entry

MET, CANCEL = 1, 2
NONE_MET, NONE_CANCELLED, PENDING, DUE = 0, 1, 2, 3


class Instance:
    __slots__ = ("anchor", "base", "deadline", "end", "end_kind", "schedule", "start")

    def __init__(self, anchor: str, start: Entry, base: int, deadline: int, end_kind: int = 0,  # noqa: PLR0917  positional: built in the hot loop
                 end: Entry | None = None, schedule: tuple[tuple[int, int], ...] = ()) -> None:
        self.anchor = anchor
        self.start = start          # the entry the deadline runs from (the latest, for keyed)
        self.base = base            # the instant deadline and escalations count from
        self.deadline = deadline
        self.end_kind = end_kind    # 0 not ended, MET, CANCEL
        self.end = end              # the entry that ended it
        self.schedule = schedule    # keyed: (occurred_at, deadline) of each start, in order

    def ended(self, kind: int, end: Entry) -> Instance:
        """This instance ended by `end` (a new object: instances are never changed)."""
        return Instance(self.anchor, self.start, self.base, self.deadline, kind, end, self.schedule)

    def deadline_in_force(self, at: int) -> tuple[int | None, int | None]:
        """Keyed: the deadline set by the last start that occurred at or before `at`, and
        when the next start (a move) occurred after it."""
        in_force = moved_at = None
        for occurred, deadline in self.schedule:
            if occurred <= at:
                in_force = deadline
            elif moved_at is None:
                moved_at = occurred
        return in_force, moved_at

    def __repr__(self) -> str:
        return f"Instance({self.anchor!r}, deadline={self.deadline}, end={self.end_kind})"


def status(inst: Instance, now: int) -> int:
    """NONE_MET, NONE_CANCELLED (ended on or before the deadline), PENDING or DUE at `now`.
    (engine.py has this inlined in its loop.)"""
    end = inst.end
    if end is not None and end[0] <= inst.deadline:
        return NONE_MET if inst.end_kind == MET else NONE_CANCELLED
    if now < inst.deadline:
        return PENDING
    return DUE


def new_fold(r: CompiledRule, close_bits: int, reopen_bits: int) -> Fold:
    if r.count > 1 or r.key is not None:
        return GeneralFold(r, close_bits, reopen_bits)
    return SimpleFold(r, close_bits, reopen_bits)


def start_order(inst: Instance) -> tuple[int, str]:
    """Instances are reported in the order of their start events, however they were found."""
    return inst.start[0], inst.start[1]


class Fold:
    """Where the pass over one rule stopped. A fold is never changed once made."""

    awaiting: tuple[Instance, ...]
    """The instances not ended yet."""
    keeps_earlier: bool
    """met_any_time: the fold remembers met events, so every met event changes it."""

    def fed(self, entries: Iterable[Entry], emitted: Collection[str]) -> tuple[Fold, list[Instance]]:
        """The fold after `entries`, and the instances those entries ended, started or
        moved, plus those still waiting, that can need a change."""
        raise NotImplementedError


class SimpleFold(Fold):
    """One instance per start event (the hot path). Nothing here is changed in place: an
    instance that ends is replaced by an ended copy, lists and dicts by new ones."""

    __slots__ = ("awaiting", "blank", "closed", "closer", "earlier_met", "earlier_same", "keeps_earlier", "p")

    def __init__(self, r: CompiledRule | None, close_bits: int = 0, reopen_bits: int = 0) -> None:
        """The fold of `r` before any entry. `SimpleFold(None)` is an empty shell that `fed`
        fills in: compiled (ucwatch/core/native.py), a class cannot be made without its __init__."""
        if r is None:
            return
        self.p = (r.scan_bits, close_bits, reopen_bits, r.start_bits, r.cancel_bits, r.met_bits,
                  r.met_any_bits, r.met_same, r.after_ms, r.deadline_from, r.rule.met_any_time)
        self.keeps_earlier = r.rule.met_any_time
        self.blank = self
        """The fold before any entry. A pass that ends in that state hands it back, not a
        copy, so that the many children a rule has nothing pending for share one object."""
        self.awaiting: tuple[Instance, ...] = ()
        self.closed = False
        self.closer: Entry | None = None
        self.earlier_met: Entry | None = None                    # met_any_time only
        self.earlier_same: dict[tuple[str, object], Entry] = {}  # met_any_time only

    # One pass of the hot loop, in one frame: a helper call per entry cost more than the rules.
    def fed(self, entries: Iterable[Entry],  # noqa: PLR0912, PLR0915
            emitted: Collection[str]) -> tuple[SimpleFold, list[Instance]]:
        (scan, close_bits, reopen_bits, start_bits, cancel_bits, met_bits, met_any, met_same, after,
         origin, any_time) = self.p
        case_bits = close_bits | reopen_bits
        awaiting, closed, closer = self.awaiting, self.closed, self.closer
        earlier_met, earlier_same = self.earlier_met, self.earlier_same
        found: list[Instance] = []
        for e in entries:
            m = e[4]
            if not m & scan:
                if m & case_bits:
                    if m & reopen_bits:
                        closed = False
                    if m & close_bits:
                        closed, closer = True, e
                continue
            if m & reopen_bits:
                closed = False
            if awaiting:
                if m & cancel_bits:
                    t = e[0]
                    for a in awaiting:
                        if t > a.deadline or a.anchor in emitted:
                            found.append(a.ended(CANCEL, e))
                    awaiting = ()
                elif m & met_bits:
                    if m & met_any:
                        t = e[0]
                        for a in awaiting:
                            if t > a.deadline or a.anchor in emitted:
                                found.append(a.ended(MET, e))
                        awaiting = ()
                    else:
                        awaiting = _met_same(awaiting, e, m, met_same, found, emitted)
            if m & close_bits:
                closed, closer = True, e
            if m & start_bits:
                if closed:
                    if closer is not None and e[1] in emitted:
                        found.append(Instance(e[1], e, e[0], e[0], CANCEL, closer))
                else:
                    base = (e[3] or {}).get(origin) if origin else e[0]
                    if base is not None:
                        hit = _earlier(earlier_met, earlier_same, met_same, e) if any_time else None
                        if hit is None:
                            awaiting = (*awaiting, Instance(e[1], e, base, base + after))
                        elif hit[0] > base + after or e[1] in emitted:
                            found.append(Instance(e[1], e, base, base + after, MET, hit))
            if any_time and m & met_bits:
                earlier_met, earlier_same = _remember(earlier_met, earlier_same, e, m, met_any, met_same)
        if not (awaiting or closed or earlier_met or earlier_same):
            new = self.blank   # a closer is only read while closed, so it is not state here
        else:
            new = SimpleFold(None)
            new.p, new.blank, new.awaiting, new.closed, new.closer = self.p, self.blank, awaiting, closed, closer
            new.keeps_earlier = self.keeps_earlier
            new.earlier_met, new.earlier_same = earlier_met, earlier_same
        if found:
            found.extend(awaiting)
            return new, found
        return new, list(awaiting)


class GeneralFold(Fold):
    """Keyed rules (one instance per key value; a repeat start moves its deadline) and
    counted rules (the N-th start in a row since the last reset). Like SimpleFold, nothing
    is changed in place: instances are replaced, the dict and the list copied on write."""

    __slots__ = (
        "awaiting",
        "blank",
        "closed",
        "closer",
        "counted",
        "earlier_met",
        "earlier_same",
        "keeps_earlier",
        "keyed",
        "p",
        "run",
    )

    def __init__(self, r: CompiledRule | None, close_bits: int = 0, reopen_bits: int = 0) -> None:
        """As SimpleFold's: `GeneralFold(None)` is the shell `fed` fills in."""
        if r is None:
            return
        self.p = (r.scan_bits, close_bits, reopen_bits, r.start_bits, r.cancel_bits, r.met_bits,
                  r.met_any_bits, r.met_same, r.reset_bits, r.count, r.key, r.after_ms, r.deadline_from,
                  r.rule.met_any_time)
        self.keeps_earlier = r.rule.met_any_time
        self.blank = self   # as SimpleFold's
        self.awaiting: tuple[Instance, ...] = ()
        self.keyed: dict[object, Instance] = {}     # keyed rules: every instance, by key value
        self.closed = False
        self.closer: Entry | None = None
        self.run, self.counted = "", 0
        self.earlier_met: Entry | None = None
        self.earlier_same: dict[tuple[str, object], Entry] = {}

    # One pass of the hot loop, in one frame (as SimpleFold.fed), with keys and counted runs.
    def fed(self, entries: Iterable[Entry],  # noqa: PLR0912, PLR0915
            emitted: Collection[str]) -> tuple[GeneralFold, list[Instance]]:
        (scan, close_bits, reopen_bits, start_bits, cancel_bits, met_bits, met_any, met_same, reset_bits,
         count, key, after, origin, any_time) = self.p
        case_bits = close_bits | reopen_bits
        awaiting, keyed, own_keyed = self.awaiting, self.keyed, False
        closed, closer, run, counted = self.closed, self.closer, self.run, self.counted
        earlier_met, earlier_same = self.earlier_met, self.earlier_same
        touched: dict[object, Instance] = {}
        for e in entries:
            m = e[4]
            if not m & scan:
                if m & case_bits:
                    if m & reopen_bits:
                        closed = False
                    if m & close_bits:
                        closed, closer = True, e
                continue
            if m & reopen_bits:
                closed = False
            ended: list[Instance] = []
            if awaiting:
                if m & cancel_bits:
                    ended = [i.ended(CANCEL, e) for i in awaiting]
                    awaiting = ()
                elif m & met_bits:
                    if m & met_any:
                        ended = [i.ended(MET, e) for i in awaiting]
                        awaiting = ()
                    else:
                        fields = e[3] or {}
                        for bits, name in met_same:
                            if m & bits:
                                value = fields.get(name)
                                still = []
                                for i in awaiting:
                                    if (i.start[3] or {}).get(name) == value:
                                        ended.append(i.ended(MET, e))
                                    else:
                                        still.append(i)
                                awaiting = tuple(still)
            if ended:
                if key is not None and not own_keyed:
                    keyed, own_keyed = dict(keyed), True
                for i in ended:
                    touched[i.anchor] = i
                    if key is not None:
                        keyed[i.anchor] = i
            if m & close_bits:
                closed, closer = True, e
            if m & reset_bits:
                counted = 0
            if m & start_bits:
                fields = e[3] or {}
                anchor: object = None
                if count > 1:
                    if not closed:
                        counted += 1
                        if counted == 1:
                            run = e[1]
                        if counted == count:
                            anchor = run
                else:
                    value = fields.get(key)  # type: ignore[arg-type]
                    old = keyed.get(value)
                    if old is None:
                        anchor = value
                    elif not closed:
                        base = fields.get(origin) if origin else e[0]
                        if base is not None:          # a repeat: the deadline moves
                            moved = Instance(old.anchor, e, base, base + after, old.end_kind, old.end,
                                             (*old.schedule, (e[0], base + after)))
                            if not own_keyed:
                                keyed, own_keyed = dict(keyed), True
                            keyed[value] = touched[value] = moved
                            awaiting = tuple(moved if i is old else i for i in awaiting)
                if anchor is not None:
                    inst = None
                    if closed:
                        if closer is not None and anchor in emitted:
                            inst = Instance(anchor, e, e[0], e[0], CANCEL, closer)  # type: ignore[arg-type]
                    else:
                        base = fields.get(origin) if origin else e[0]
                        if base is not None:
                            inst = Instance(anchor, e, base, base + after,  # type: ignore[arg-type]
                                            schedule=((e[0], base + after),) if key is not None else ())
                            hit = _earlier(earlier_met, earlier_same, met_same, e) if any_time else None
                            if hit is not None:
                                inst = inst.ended(MET, hit)
                            else:
                                awaiting = (*awaiting, inst)
                    if inst is not None:
                        touched[anchor] = inst
                        if key is not None:
                            if not own_keyed:
                                keyed, own_keyed = dict(keyed), True
                            keyed[anchor] = inst
            if any_time and m & met_bits:
                earlier_met, earlier_same = _remember(earlier_met, earlier_same, e, m, met_any, met_same)
        if not (awaiting or keyed or closed or counted or earlier_met or earlier_same):
            new = self.blank   # `run` is only read while counting, the closer while closed
        else:
            new = GeneralFold(None)
            new.p, new.blank, new.keeps_earlier = self.p, self.blank, self.keeps_earlier
            new.awaiting, new.keyed, new.closed, new.closer, new.run, new.counted = (
                awaiting, keyed, closed, closer, run, counted)
            new.earlier_met, new.earlier_same = earlier_met, earlier_same
        for i in awaiting:
            touched[i.anchor] = i
        return new, [i for i in touched.values()
                     if i.end is None or i.end[0] > i.deadline or i.anchor in emitted]


def _met_same(awaiting: tuple[Instance, ...], e: Entry, m: int,  # noqa: PLR0917  hot path
              met_same: tuple[tuple[int, str], ...], found: list[Instance],
              emitted: Collection[str]) -> tuple[Instance, ...]:
    fields = e[3] or {}
    t = e[0]
    for bits, name in met_same:
        if m & bits:
            value = fields.get(name)
            still = []
            for a in awaiting:
                if (a.start[3] or {}).get(name) == value:
                    if t > a.deadline or a.anchor in emitted:
                        found.append(a.ended(MET, e))
                else:
                    still.append(a)
            awaiting = tuple(still)
    return awaiting


Earlier = dict[tuple[str, object], Entry]
"""met_any_time: the first met event per (`same` field, value)."""


def _earlier(earlier_met: Entry | None, earlier_same: Earlier, met_same: tuple[tuple[int, str], ...],
             start: Entry) -> Entry | None:
    found = earlier_met
    fields = start[3] or {}
    for _, name in met_same:
        candidate = earlier_same.get((name, fields.get(name)))
        if candidate is not None and (found is None or candidate < found):
            found = candidate
    return found


def _remember(earlier_met: Entry | None, earlier_same: Earlier, e: Entry, m: int,  # noqa: PLR0917  hot path
              met_any: int, met_same: tuple[tuple[int, str], ...]) -> tuple[Entry | None, Earlier]:
    """The first met event seen (met_any_time), overall and per `same` value; a new dict
    when it changes, never the one given."""
    for bits, name in met_same:
        if m & bits:
            key = (name, (e[3] or {}).get(name))
            if key not in earlier_same:
                earlier_same = {**earlier_same, key: e}
    if m & met_any and earlier_met is None:
        return e, earlier_same
    return earlier_met, earlier_same
