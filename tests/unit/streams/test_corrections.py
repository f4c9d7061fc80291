"""Issue 14: facts that arrive late correct what was already said. A retracted alert withdraws
its notices (CORRECTION), a counted run is dated from its true N-th start (lifecycle case 9),
and an end that came before an emitted escalation is told again (lifecycle case 10)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from detect_support import DAY, T0, Child, event, ms

from ucwatch.streams.engine import CORRECTION, Engine
from ucwatch.streams.ids import notification_id
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.records import notification_record
from ucwatch.streams.state import ChildState

HEARING = "HRG-1"


def call(at: int, outcome: str = "NO_ANSWER", **kw: Any) -> dict[str, Any]:
    return event("WellbeingCallAttempted", at, outcome=outcome, lives_with_sponsor=None, safety_concern=False, **kw)


# -- correction notices ----------------------------------------------------------------------

FTA = event("FailureToAppear", T0, hearing_id=HEARING)
CONTACT = event("LocationVerified", T0 + 10 * DAY, recorded_at=T0 + 20 * DAY)


def _whereabouts_retracted(engine: Engine | None = None) -> tuple[Child, dict[str, Any]]:
    """A WHEREABOUTS_UNKNOWN alert notified to HHS and ICE, then retracted by a contact that
    occurred before its deadline and arrived after it."""
    child = Child(engine=engine) if engine is not None else Child()
    child.feed(FTA)
    child.run_clock(T0 + 15 * DAY)
    child.feed(CONTACT)
    return child, CONTACT


def test_a_retracted_alert_that_was_notified_sends_one_correction_per_recipient() -> None:
    child, contact = _whereabouts_retracted()
    alert = child.changes("WHEREABOUTS_UNKNOWN")
    assert [a.change for a in alert] == ["OPENED", "RETRACTED"]
    originals = [n for n in child.notifications if n.kind == "WHEREABOUTS_UNKNOWN"]
    corrections = [n for n in child.notifications if n.kind == CORRECTION]
    assert [n.recipient for n in originals] == ["HHS", "ICE"]
    assert [(n.recipient, n.corrects_notification_id, n.fact_event_id, n.occurred_at_ms) for n in corrections] == [
        (o.recipient, o.notification_id, alert[0].alert_id, contact["occurred_at"]) for o in originals]
    for original, correction in zip(originals, corrections, strict=True):
        assert correction.notification_id == notification_id(
            contact["child_id"], CORRECTION, original.recipient, f"{original.notification_id}|2")
        assert original.notification_id in correction.reason
        assert "LocationVerified occurred on or before the deadline (at 2021-03-11T12:00:00Z)" in correction.reason
    assert "(at 2021-03-11T12:00:00Z)" in alert[1].reason


def test_a_correction_is_sent_once_across_replays_and_is_the_same_from_scratch() -> None:
    child, contact = _whereabouts_retracted()
    stored = ChildState.from_dict(json.loads(json.dumps(child.state.to_dict())))  # type: ignore[union-attr]
    replay = Child(state=stored, now=child.now)
    replay.feed(contact)
    replay.run_clock(T0 + 60 * DAY)
    assert replay.notifications == []
    again, _ = _whereabouts_retracted()
    assert again.notifications == child.notifications
    slow, _ = _whereabouts_retracted(Engine(default_policy(), resume=False))
    assert slow.notifications == child.notifications


def test_no_correction_for_an_alert_resolved_late_or_retracted_before_anyone_was_told() -> None:
    late = Child()
    late.feed(event("FailureToAppear", T0, hearing_id=HEARING))
    late.run_clock(T0 + 15 * DAY)
    late.feed(event("LocationVerified", T0 + 16 * DAY))
    assert [a.change for a in late.changes("WHEREABOUTS_UNKNOWN")] == ["OPENED", "RESOLVED"]
    assert CORRECTION not in {n.kind for n in late.notifications}
    # a retracted alert of a rule that notifies nobody corrects nothing
    run = Child()
    run.feed(call(T0), call(T0 + DAY), call(T0 + 2 * DAY))
    run.feed(event("LocationVerified", T0 + DAY // 2, recorded_at=T0 + 3 * DAY))
    assert run.of("LOST_CONTACT")[-1][0] == "RETRACTED"
    assert run.notifications == []


def test_the_notification_record_carries_the_corrected_notice() -> None:
    child, _ = _whereabouts_retracted()
    records = [notification_record(n) for n in child.notifications]
    assert [r["kind"] for r in records] == ["FAILURE_TO_APPEAR", *["WHEREABOUTS_UNKNOWN"] * 2, CORRECTION, CORRECTION]
    assert [r["corrects_notification_id"] for r in records] == [None, None, None, *(r["notification_id"]
                                                                                  for r in records[1:3])]


# -- LOST_CONTACT dated from the true third failed call ---------------------------------------

ISSUE_CALLS = ("2021-03-25", "2021-03-27", "2021-03-28", "2021-03-31")   # when the calls occurred
ISSUE_ARRIVALS = ("2021-04-03", "2021-04-05", "2021-03-30", "2021-04-01")  # when each arrived


def _calls() -> list[dict[str, Any]]:
    return [call(ms(f"{day}T10:00:00Z")) for day in ISSUE_CALLS]


def _final_lost_contact(child: Child) -> tuple[int, str, list[str]]:
    assert child.state is not None
    records = [r for r in child.state.alerts["LOST_CONTACT"].values() if r[1] != "RETRACTED"]
    assert len(records) == 1
    last = [a for a in child.changes("LOST_CONTACT") if a.alert_id == records[0][0]][-1]
    assert (last.deadline_ms, last.start_event_id) == (records[0][4], records[0][5])
    return last.deadline_ms, last.start_event_id, [a.change for a in child.changes("LOST_CONTACT")]


def test_the_issue_arrival_order_dates_the_alert_from_the_third_call_by_event_time() -> None:
    calls = _calls()
    child = Child()
    child.feed(event("ReleasedToSponsor", ms("2021-03-01T12:00:00Z")))
    for c, arrived in sorted(zip(calls, ISSUE_ARRIVALS, strict=True), key=lambda pair: pair[1]):
        child.feed(c, now=ms(f"{arrived}T12:00:00Z"))
    deadline, start, _ = _final_lost_contact(child)
    assert (deadline, start) == (calls[2]["occurred_at"], calls[2]["event_id"])


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
@pytest.mark.parametrize("resume", [True, False])
def test_every_arrival_order_of_four_failed_calls_ends_at_the_third_by_event_time(
        order: tuple[int, ...], resume: bool) -> None:
    calls = _calls()
    child = Child(engine=Engine(default_policy(), resume=resume))
    child.feed(event("ReleasedToSponsor", ms("2021-03-01T12:00:00Z")))
    for n, index in enumerate(order):
        child.feed(calls[index], now=ms("2021-04-01T00:00:00Z") + n * DAY)
    deadline, start, changes = _final_lost_contact(child)
    assert (deadline, start) == (calls[2]["occurred_at"], calls[2]["event_id"])
    assert changes.count("OPENED") <= 3


# -- a late end that came before an emitted escalation ----------------------------------------

def test_an_end_before_an_emitted_escalation_resolves_at_its_event_time_and_severity() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    child.run_clock(T0 + 400 * DAY)
    assert [c for c, _, _ in child.of("STALE_CASE")] == ["OPENED", "ESCALATED"]
    child.feed(event("AddressChanged", T0 + 450 * DAY))        # on time: resolves at MEDIUM
    child.feed(event("AddressChanged", T0 + 200 * DAY, recorded_at=T0 + 460 * DAY))
    first = child.changes("STALE_CASE")[:4]
    assert [(a.change, a.fired_at_ms, a.severity) for a in first] == [
        ("OPENED", T0 + 180 * DAY, "LOW"), ("ESCALATED", T0 + 365 * DAY, "MEDIUM"),
        ("RESOLVED", T0 + 450 * DAY, "MEDIUM"), ("RESOLVED", T0 + 200 * DAY, "LOW")]
    assert "escalation to MEDIUM, which did not apply" in first[3].reason


def test_an_end_before_an_escalation_of_an_open_alert_says_the_escalation_did_not_apply() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    child.run_clock(T0 + 400 * DAY)
    child.feed(event("AddressChanged", T0 + 200 * DAY, recorded_at=T0 + 401 * DAY))
    resolved = child.changes("STALE_CASE")[2]
    assert (resolved.change, resolved.fired_at_ms, resolved.severity) == ("RESOLVED", T0 + 200 * DAY, "LOW")
    assert "did not apply" in resolved.reason


def test_an_earlier_end_without_an_escalation_moves_the_resolution_time() -> None:
    child = Child()
    child.feed(event("FailureToAppear", T0, hearing_id=HEARING))
    child.run_clock(T0 + 15 * DAY)
    child.feed(event("LocationVerified", T0 + 20 * DAY))
    child.feed(event("LocationVerified", T0 + 16 * DAY, recorded_at=T0 + 21 * DAY))
    assert child.of("WHEREABOUTS_UNKNOWN") == [
        ("OPENED", T0 + 14 * DAY, "CRITICAL"), ("RESOLVED", T0 + 20 * DAY, "CRITICAL"),
        ("RESOLVED", T0 + 16 * DAY, "CRITICAL")]
    child.feed(event("LocationVerified", T0 + 18 * DAY, recorded_at=T0 + 22 * DAY))   # not earlier
    assert len(child.of("WHEREABOUTS_UNKNOWN")) == 3
