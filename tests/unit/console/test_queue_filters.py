"""The queue's filters by agency responsible, state of release and age, with the counts."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.console.support import T0, change
from ucwatch.console.children import ChildrenState, Snapshot
from ucwatch.console.fold import ConsoleState
from ucwatch.console.queue import QueueFilter, queue_page

A, B, C = "SYN-CH-000000001", "SYN-CH-000000002", "SYN-CH-000000003"


def state() -> tuple[ConsoleState, ChildrenState]:
    alerts = ConsoleState()
    alerts.apply_alert(change("nta", rule="NTA_NOT_SERVED", severity="MEDIUM", child_id=A,
                              fired_at=T0 - timedelta(days=40)))
    alerts.apply_alert(change("lost", rule="LOST_CONTACT", severity="HIGH", child_id=B,
                              fired_at=T0 - timedelta(hours=3)))
    alerts.apply_alert(change("where", rule="WHEREABOUTS_UNKNOWN", severity="CRITICAL", child_id=C,
                              fired_at=T0 - timedelta(days=3)))
    alerts.apply_alert(change("new-rule", rule="SOME_NEW_RULE", severity="LOW", child_id=C,
                              fired_at=T0 - timedelta(days=10)))
    children = ChildrenState()
    for child, custody, released_to in ((A, "RELEASED_TO_SPONSOR", "TX"), (B, "RELEASED_TO_SPONSOR", "CA"),
                                        (C, "LEFT_HHS_CARE", None)):
        children.apply_snapshot(child, Snapshot(custody, "UNKNOWN", "NO_NTA", None, None, T0, released_to))
    return alerts, children


def ids(wanted: QueueFilter) -> list[str]:
    alerts, children = state()
    page = queue_page(alerts, wanted, T0, 50, children)
    return [row.entry.alert_id for row in page.rows]


def test_filter_by_agency_responsible() -> None:
    assert ids(QueueFilter(agency="ICE")) == ["where", "nta"]
    assert ids(QueueFilter(agency="HHS")) == ["where", "lost"]
    assert ids(QueueFilter(agency="EOIR")) == []
    assert ids(QueueFilter(agency="unknown")) == ["new-rule"]


def test_filter_by_us_state_of_release() -> None:
    assert ids(QueueFilter(state="TX")) == ["nta"]
    assert ids(QueueFilter(state="CA")) == ["lost"]
    assert ids(QueueFilter(state="none")) == ["where", "new-rule"]
    assert ids(QueueFilter(state="NY")) == []
    alerts, children = state()
    page = queue_page(alerts, QueueFilter(state="TX"), T0, 50, children)
    assert page.states == ["CA", "TX"] and page.counts == {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 1, "LOW": 0}
    assert QueueFilter.from_query({"state": "TX"}).state == "TX"
    assert QueueFilter.from_query({"state": "none"}).state == "none"
    assert QueueFilter.from_query({"state": "tx'"}).state == ""


def test_filter_by_custody_status() -> None:
    assert ids(QueueFilter(release="released")) == ["lost", "nta"]
    assert ids(QueueFilter(release="left_care")) == ["where", "new-rule"]
    alerts, _ = state()
    # no snapshot read yet: every child is unknown
    assert len(queue_page(alerts, QueueFilter(release="unknown"), T0, 50).rows) == 4


def test_filter_by_age() -> None:
    assert ids(QueueFilter(age="day")) == ["lost"]
    assert ids(QueueFilter(age="week")) == ["where"]
    assert ids(QueueFilter(age="month")) == ["new-rule"]
    assert ids(QueueFilter(age="older")) == ["nta"]


def test_counts_per_severity_follow_the_other_filters() -> None:
    alerts, children = state()
    page = queue_page(alerts, QueueFilter(agency="HHS", severity="HIGH"), T0, 50, children)
    assert page.counts == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 0}
    assert [row.entry.alert_id for row in page.rows] == ["lost"]


def test_unknown_filter_values_mean_no_filter() -> None:
    wanted = QueueFilter.from_query({"agency": "FBI", "release": "moon", "age": "ancient"})
    assert (wanted.agency, wanted.release, wanted.age) == ("", "", "")
    wanted = QueueFilter.from_query({"agency": "CBP/ICE", "release": "in_custody", "age": "week"})
    assert (wanted.agency, wanted.release, wanted.age) == ("CBP/ICE", "in_custody", "week")


def test_a_pending_alert_is_counted_above_the_queue_not_listed_until_it_opens() -> None:
    alerts, children = state()
    alerts.apply_alert(change("held", rule="HEARING_OUTCOME_MISSING", severity="MEDIUM", child_id=A,
                              change="PENDING", status="PENDING"))
    page = queue_page(alerts, QueueFilter(), T0, 50, children)
    assert page.pending == 1 and "held" not in [row.entry.alert_id for row in page.rows]
    alerts.apply_alert(change("held", 2, rule="HEARING_OUTCOME_MISSING", severity="MEDIUM", child_id=A))
    page = queue_page(alerts, QueueFilter(), T0, 50, children)
    assert page.pending == 0 and "held" in [row.entry.alert_id for row in page.rows]
