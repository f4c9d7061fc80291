"""The alert queue as a query over the state: filter, count per severity, order, one page.

Pure. The queue holds open alerts not closed by hand, most severe first and, within a
severity, the newest change first. The counts per severity are of the alerts matching
every filter but severity, so that clicking a count narrows the list to it.

`status=pending` lists instead the alerts held PENDING (overdue, their feeds not yet
complete up to the deadline; console/pending.py): most severe first and, within a
severity, the earliest deadline first. They are not open, and nothing on the list acts
on them.

Filters: severity, rule, agency responsible (`console.responsibility`), release (the
child's custody status in its latest snapshot, `console.children.RELEASE_FILTERS`), state
of release (the US state of the child's last release to a sponsor, from the same
snapshot; `NO_STATE` for a child with none known), age (from the alert's opening, in
event time, to now, `AGE_FILTERS`), assignee and triage.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ucwatch.console.children import RELEASE_FILTERS, ChildrenState, release_matches
from ucwatch.console.fold import SEVERITIES, SEVERITY_RANK, AlertEntry, ConsoleState, Triage, TriageView, triage
from ucwatch.console.responsibility import AGENCIES, UNKNOWN, agencies_for

TRIAGE_FILTERS = {
    "active": frozenset({Triage.NEW, Triage.CHANGED, Triage.ACKNOWLEDGED}),
    "all": frozenset({Triage.NEW, Triage.CHANGED, Triage.ACKNOWLEDGED, Triage.SNOOZED}),
    "new": frozenset({Triage.NEW, Triage.CHANGED}),
    "acknowledged": frozenset({Triage.ACKNOWLEDGED}),
    "snoozed": frozenset({Triage.SNOOZED}),
}
"""The triage filter's choices; `active` (the default) leaves snoozed alerts out."""
AGE_FILTERS: dict[str, tuple[timedelta, timedelta | None]] = {
    "day": (timedelta(0), timedelta(days=1)),
    "week": (timedelta(days=1), timedelta(days=7)),
    "month": (timedelta(days=7), timedelta(days=30)),
    "older": (timedelta(days=30), None),
}
"""Age of an alert (now minus its opening): at least the first, less than the second."""
STATUSES = ("open", "pending")
"""The queue's lists: open alerts (the default) or alerts held PENDING."""
UNASSIGNED = "-"
NO_STATE = "none"
"""The state-of-release filter's value for children with no release state known."""
US_STATE = re.compile(r"^[A-Z]{2}\Z")
UNTOUCHED = TriageView(Triage.NEW, None, None, None, None)
"""The triage of an alert nobody acted on (what `triage` gives it), without computing it."""


@dataclass(frozen=True)
class QueueFilter:
    severity: str = ""
    rule: str = ""
    agency: str = ""
    release: str = ""
    state: str = ""
    """A US state code (the state of release), `NO_STATE`, or empty for any."""
    age: str = ""
    assignee: str = ""
    """A user or team name, `UNASSIGNED`, or empty for any."""
    triage: str = "active"
    page: int = 1
    status: str = "open"
    """`open`, or `pending`: the alerts held PENDING instead of the open ones."""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> QueueFilter:
        """From the page's query string; an unknown value means no filter, a bad page the first."""
        severity = params.get("severity", "")
        wanted_triage = params.get("triage", "active")
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        agency, release, age = params.get("agency", ""), params.get("release", ""), params.get("age", "")
        state, status = params.get("state", ""), params.get("status", "open")
        return cls(severity=severity if severity in SEVERITIES else "", rule=params.get("rule", "")[:60],
                   agency=agency if agency in (*AGENCIES, UNKNOWN) else "",
                   release=release if release in RELEASE_FILTERS else "",
                   state=state if state == NO_STATE or US_STATE.match(state) else "",
                   age=age if age in AGE_FILTERS else "",
                   assignee=params.get("assignee", "")[:60],
                   triage=wanted_triage if wanted_triage in TRIAGE_FILTERS else "active", page=page,
                   status=status if status in STATUSES else "open")


@dataclass(frozen=True)
class QueueRow:
    entry: AlertEntry
    triage: TriageView


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    counts: dict[str, int]
    """Per severity, of the alerts matching the other filters."""
    total: int
    """Alerts matching every filter."""
    page: int
    pages: int
    rules: list[str]
    """Rules of the open alerts, for the filter's choices."""
    states: list[str]
    """States of release read in snapshots, for the filter's choices."""
    pending: int = 0
    """Alerts held PENDING (overdue, their feeds not yet complete): not in the queue."""


def queue_page(state: ConsoleState, wanted: QueueFilter, now: datetime, page_size: int,
               children: ChildrenState | None = None) -> QueuePage:
    counts = dict.fromkeys(SEVERITIES, 0)
    matching: list[QueueRow] = []
    rules: set[str] = set()
    wanted_state = "" if wanted.state == NO_STATE else wanted.state
    allowed = TRIAGE_FILTERS[wanted.triage]
    children = children if children is not None else ChildrenState()
    oldest, newest = _opened_between(wanted.age, now)
    pending = wanted.status == "pending"
    for entry in state.pending_entries() if pending else state.open_entries():
        latest = entry.latest
        assert latest is not None  # open_entries holds alerts with changes only
        rules.add(latest.rule)
        if wanted.rule and latest.rule != wanted.rule:
            continue
        if wanted.agency and wanted.agency not in agencies_for(latest.rule):
            continue
        if wanted.release and not release_matches(children.custody(latest.child_id), wanted.release):
            continue
        if wanted.state and children.release_state(latest.child_id) != wanted_state:
            continue
        if wanted.age and not _within(entry, oldest, newest):
            continue
        view = triage(entry, now) if entry.actions else UNTOUCHED  # most alerts: no action yet
        # Triage and assignee are the open queue's: nobody takes in hand an alert not open.
        if not pending and (view.status not in allowed or not _assigned_to(view, wanted.assignee)):
            continue
        counts[latest.severity] = counts.get(latest.severity, 0) + 1
        if not wanted.severity or latest.severity == wanted.severity:
            matching.append(QueueRow(entry, view))
    pages = max(1, -(-len(matching) // page_size))
    page = min(wanted.page, pages)
    start = (page - 1) * page_size
    order = _pending_order if pending else _order
    if start + page_size < len(matching) // 4:  # the first pages: a partial selection, not a full sort
        ordered = heapq.nlargest(start + page_size, matching, key=order)
    else:
        ordered = sorted(matching, key=order, reverse=True)
    return QueuePage(ordered[start:start + page_size], counts, len(matching), page, pages, sorted(rules),
                     sorted(children.release_states), len(state.pending))


def _opened_between(age: str, now: datetime) -> tuple[datetime | None, datetime]:
    """The opening times an age filter admits: (oldest allowed or None, newest allowed)."""
    if not age:
        return None, now
    young, old = AGE_FILTERS[age]
    newest = now - young if young else datetime.max.replace(tzinfo=UTC)  # event time may run a little ahead
    return (now - old if old is not None else None), newest


def _within(entry: AlertEntry, oldest: datetime | None, newest: datetime) -> bool:
    opened = entry.opened_at
    assert opened is not None
    if opened > newest:
        return False
    return oldest is None or opened > oldest


def _assigned_to(view: TriageView, assignee: str) -> bool:
    if not assignee:
        return True
    if assignee == UNASSIGNED:
        return view.assignee is None
    return view.assignee == assignee


def _order(row: QueueRow) -> tuple[int, datetime, str]:
    latest = row.entry.latest
    assert latest is not None
    return SEVERITY_RANK.get(latest.severity, -1), latest.fired_at, latest.alert_id


def _pending_order(row: QueueRow) -> tuple[int, float, str]:
    """Most severe first, then the one overdue longest (the largest key comes first)."""
    latest = row.entry.latest
    assert latest is not None
    return SEVERITY_RANK.get(latest.severity, -1), -latest.deadline.timestamp(), latest.alert_id
