"""The state fold: alerts and actions in, triage and queue out, whatever the order."""

from __future__ import annotations

import itertools
from datetime import timedelta

from tests.unit.console.support import CHILD, T0, action, change
from ucwatch.console.actions import ActionKind, CloseReason
from ucwatch.console.fold import ConsoleState, Triage, triage
from ucwatch.console.queue import UNASSIGNED, QueueFilter, queue_page


def status(state: ConsoleState, alert_id: str = "a1", now=T0) -> Triage:  # type: ignore[no-untyped-def]
    entry = state.alert(alert_id)
    assert entry is not None
    return triage(entry, now).status


def test_a_new_alert_is_new_and_acknowledging_it_holds() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    assert status(state) is Triage.NEW
    state.apply_action(action(ActionKind.ACKNOWLEDGED))
    assert status(state) is Triage.ACKNOWLEDGED


def test_an_alert_escalated_after_acknowledgement_comes_back_as_changed() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    state.apply_action(action(ActionKind.ACKNOWLEDGED, sequence=1))
    state.apply_alert(change(sequence=2, change="ESCALATED", severity="CRITICAL"))
    assert status(state) is Triage.CHANGED
    state.apply_action(action(ActionKind.ACKNOWLEDGED, sequence=2, at=T0 + timedelta(hours=1)))
    assert status(state) is Triage.ACKNOWLEDGED


def test_closing_by_hand_lapses_when_the_alert_changes_again() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    state.apply_action(action(ActionKind.CLOSED_BY_HAND, close_reason=CloseReason.DUPLICATE))
    assert status(state) is Triage.CLOSED_BY_HAND
    assert queue_page(state, QueueFilter(triage="all"), T0, 50).total == 0
    state.apply_alert(change(sequence=2, change="ESCALATED"))
    assert status(state) is Triage.CHANGED
    assert queue_page(state, QueueFilter(), T0, 50).total == 1


def test_a_snooze_holds_until_its_time() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    state.apply_action(action(ActionKind.ACKNOWLEDGED))
    state.apply_action(action(ActionKind.SNOOZED, at=T0 + timedelta(minutes=1), snoozed_until=T0 + timedelta(days=2)))
    assert status(state, now=T0 + timedelta(days=1)) is Triage.SNOOZED
    assert status(state, now=T0 + timedelta(days=3)) is Triage.ACKNOWLEDGED


def test_an_assignment_survives_an_escalation() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    state.apply_action(action(ActionKind.ASSIGNED, assignee="maria"))
    state.apply_alert(change(sequence=2, change="ESCALATED"))
    entry = state.alert("a1")
    assert entry is not None and triage(entry, T0).assignee == "maria"


def test_the_result_does_not_depend_on_the_order_records_are_read() -> None:
    records = [change(), action(ActionKind.ACKNOWLEDGED, sequence=1),
               change(sequence=2, change="ESCALATED", severity="CRITICAL"),
               action(ActionKind.NOTE_ADDED, sequence=2, at=T0 + timedelta(hours=2), note="called"),
               action(ActionKind.ASSIGNED, sequence=2, at=T0 + timedelta(hours=3), assignee="team:east")]
    outcomes = set()
    for order in itertools.permutations(records):
        state = ConsoleState()
        for record in order:
            if hasattr(record, "action"):
                state.apply_action(record)  # type: ignore[arg-type]
            else:
                state.apply_alert(record)  # type: ignore[arg-type]
        entry = state.alert("a1")
        assert entry is not None and entry.latest is not None
        view = triage(entry, T0)
        outcomes.add((entry.latest.severity, view.status, view.assignee, len(entry.actions)))
    assert outcomes == {("CRITICAL", Triage.CHANGED, "team:east", 3)}


def test_repeats_change_nothing() -> None:
    state = ConsoleState()
    assert state.apply_alert(change()) and not state.apply_alert(change())
    ack = action(ActionKind.ACKNOWLEDGED)
    assert state.apply_action(ack) and not state.apply_action(ack)
    entry = state.alert("a1")
    assert entry is not None and len(entry.actions) == 1 and len(entry.changes) == 1


def test_actions_before_their_alert_wait_for_it() -> None:
    state = ConsoleState()
    state.apply_action(action(ActionKind.ACKNOWLEDGED))
    assert state.alert("a1") is None and queue_page(state, QueueFilter(), T0, 50).total == 0
    state.apply_alert(change())
    assert status(state) is Triage.ACKNOWLEDGED


def test_closed_alerts_leave_the_queue_and_stay_on_the_childs_page() -> None:
    state = ConsoleState()
    state.apply_alert(change())
    state.apply_alert(change(sequence=2, change="RESOLVED", status="RESOLVED"))
    assert queue_page(state, QueueFilter(triage="all"), T0, 50).total == 0
    assert [e.alert_id for e in state.child_alerts(CHILD)] == ["a1"]


def test_the_queue_is_most_severe_then_newest_first_with_counts_and_pages() -> None:
    state = ConsoleState()
    severities = ["LOW", "CRITICAL", "MEDIUM", "HIGH", "CRITICAL"]
    for i, severity in enumerate(severities):
        state.apply_alert(change(f"a{i}", severity=severity, fired_at=T0 + timedelta(hours=i),
                                 rule="LOST_CONTACT" if i % 2 else "STALE_CASE"))
    page = queue_page(state, QueueFilter(), T0, 2)
    assert [r.entry.alert_id for r in page.rows] == ["a4", "a1"]
    assert page.counts == {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1} and page.pages == 3
    last = queue_page(state, QueueFilter(page=3), T0, 2)
    assert [r.entry.alert_id for r in last.rows] == ["a0"]
    assert queue_page(state, QueueFilter(page=99), T0, 2).page == 3
    critical = queue_page(state, QueueFilter(severity="CRITICAL"), T0, 50)
    assert [r.entry.alert_id for r in critical.rows] == ["a4", "a1"] and critical.counts["LOW"] == 1
    stale = queue_page(state, QueueFilter(rule="STALE_CASE"), T0, 50)
    assert {r.entry.alert_id for r in stale.rows} == {"a0", "a2", "a4"}
    assert stale.rules == ["LOST_CONTACT", "STALE_CASE"]


def test_queue_filters_by_triage_and_assignee() -> None:
    state = ConsoleState()
    for alert_id in ("a1", "a2", "a3"):
        state.apply_alert(change(alert_id))
    state.apply_action(action(ActionKind.ACKNOWLEDGED, "a1"))
    state.apply_action(action(ActionKind.ASSIGNED, "a2", assignee="maria"))
    state.apply_action(action(ActionKind.SNOOZED, "a3", snoozed_until=T0 + timedelta(days=1)))

    def ids(**wanted: str) -> set[str]:
        return {r.entry.alert_id for r in queue_page(state, QueueFilter(**wanted), T0, 50).rows}  # type: ignore[arg-type]
    assert ids() == {"a1", "a2"}
    assert ids(triage="all") == {"a1", "a2", "a3"}
    assert ids(triage="new") == {"a2"}
    assert ids(triage="acknowledged") == {"a1"}
    assert ids(triage="snoozed") == {"a3"}
    assert ids(assignee="maria") == {"a2"}
    assert ids(assignee=UNASSIGNED) == {"a1"}


def test_queue_filter_from_the_query_string_ignores_nonsense() -> None:
    wanted = QueueFilter.from_query({"severity": "HUGE", "triage": "x", "page": "-4", "rule": "R"})
    assert wanted == QueueFilter(rule="R")
    assert QueueFilter.from_query({"page": "abc"}).page == 1
