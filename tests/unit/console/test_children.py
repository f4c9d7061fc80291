"""Per-child facts: the latest snapshot, notices once each, the delivery outcome per endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.console.support import CHILD, T0
from ucwatch.console.children import ChildrenState, Delivery, Notice, Snapshot, release_matches


def snapshot(custody: str = "RELEASED_TO_SPONSOR", *, as_of: Any = T0, **fields: Any) -> Snapshot:
    record = {"child_id": CHILD, "custody_status": custody, "contact_status": "REACHABLE",
              "court_status": "HEARING_SCHEDULED", "next_hearing_at": T0 + timedelta(days=30),
              "last_contact_at": None, "as_of": as_of, **fields}
    return Snapshot.from_record(record)


def notice(notification_id: str = "n1", recipient: str = "HHS") -> Notice:
    return Notice.from_record({"notification_id": notification_id, "child_id": CHILD, "recipient": recipient,
                               "kind": "FAILURE_TO_APPEAR", "fact_id": "e1", "occurred_at": T0, "reason": "FTA"})


def delivery(outcome: str, attempt: int = 1, endpoint: str = "hhs.webhook", notification_id: str = "n1") -> Delivery:
    return Delivery.from_record({"notification_id": notification_id, "endpoint": endpoint, "channel": "WEBHOOK",
                                 "attempt": attempt, "outcome": outcome, "status_code": 200, "detail": "",
                                 "at": int(T0.timestamp() * 1000)})


def test_the_later_snapshot_wins_whatever_the_order_read() -> None:
    children = ChildrenState()
    assert children.apply_snapshot(CHILD, snapshot("IN_HHS_CUSTODY", as_of=T0 + timedelta(days=2)))
    assert not children.apply_snapshot(CHILD, snapshot("IN_DHS_CUSTODY", as_of=T0))
    assert children.custody(CHILD) == "IN_HHS_CUSTODY"
    children.apply_snapshot(CHILD, snapshot("RELEASED_TO_SPONSOR", as_of=T0 + timedelta(days=30)))
    assert children.custody(CHILD) == "RELEASED_TO_SPONSOR"
    assert children.snapshots[CHILD].next_hearing_at == T0 + timedelta(days=30)
    assert children.custody("SYN-CH-000000001") == ""
    assert children.release_state(CHILD) == ""  # a v1 snapshot: no release state
    children.apply_snapshot(CHILD, snapshot(as_of=T0 + timedelta(days=31), release_state="TX"))
    assert children.release_state(CHILD) == "TX" and children.release_state("SYN-CH-000000001") == ""


def test_release_filter_reads_the_custody_status() -> None:
    assert release_matches("RELEASED_TO_SPONSOR", "released")
    assert not release_matches("IN_HHS_CUSTODY", "released")
    assert release_matches("IN_DHS_CUSTODY", "in_custody") and release_matches("", "unknown")
    assert release_matches("anything", "")


def test_a_repeated_notice_is_kept_once() -> None:
    children = ChildrenState()
    assert children.apply_notice(notice())
    assert not children.apply_notice(notice())
    children.apply_notice(notice("n2", "ICE"))
    assert [n.notification_id for n, _ in children.child_notices(CHILD)] == ["n1", "n2"]


def test_delivery_status_final_outcomes_win_over_a_late_failure() -> None:
    children = ChildrenState()
    children.apply_notice(notice())
    assert children.delivery_status("n1") == "PENDING"
    children.apply_delivery(delivery("FAILED", 1))
    assert children.delivery_status("n1") == "FAILED"
    children.apply_delivery(delivery("DELIVERED", 2))
    children.apply_delivery(delivery("FAILED", 1))  # an older attempt read after the outcome
    assert children.delivery_status("n1") == "DELIVERED"
    children.apply_delivery(delivery("GAVE_UP", 20, endpoint="hhs.email"))
    assert children.delivery_status("n1") == "GAVE_UP"
    assert [d.endpoint for d in children.child_notices(CHILD)[0][1]] == ["hhs.email", "hhs.webhook"]
    children.apply_notice(notice("n2", "ICE"))
    assert children.notices_by_recipient() == {"HHS": {"GAVE_UP": 1}, "ICE": {"PENDING": 1}}
