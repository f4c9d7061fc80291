"""The engine beyond the per-rule stories: rescheduling, counting, notifications, closures,
determinism, persistence, errors, and the policy changing under a stored state."""

from __future__ import annotations

import gc
import json
import random
import re
from pathlib import Path

import pytest
from detect_support import DAY, HOUR, T0, Child, event, outputs

from ucwatch.core.errors import ContractError
from ucwatch.streams.engine import Engine
from ucwatch.streams.ids import alert_id, notification_id
from ucwatch.streams.policy import Policy
from ucwatch.streams.policy_parser import DEFAULT_POLICY, default_policy, load_policy, policy_from_toml
from ucwatch.streams.state import ChildState

HEARING = "SYN-HR-000000007"
OTHER_HEARING = "SYN-HR-000000008"
FAILED = ("NO_ANSWER", "WRONG_NUMBER", "REFUSED")


def scheduled(at: int, hearing_at: int, hearing_id: str = HEARING, **kw: object) -> dict:
    return event("HearingScheduled", at, hearing_id=hearing_id, hearing_at=hearing_at, **kw)


def call(at: int, outcome: str = "NO_ANSWER", **kw: object) -> dict:
    return event("WellbeingCallAttempted", at, outcome=outcome, **kw)


# -- a rescheduled hearing moves the deadline of the same alert --------------------------------

def test_reschedule_before_the_hearing_to_a_later_date_moves_the_deadline() -> None:
    child = Child()
    first = scheduled(T0, T0 + 30 * DAY)
    child.feed(first)
    child.feed(scheduled(T0 + 10 * DAY, T0 + 60 * DAY))
    child.run_clock(T0 + 61 * DAY)
    assert child.of("HEARING_OUTCOME_MISSING") == []          # nothing at the original 32 days
    child.run_clock(T0 + 62 * DAY)
    assert child.of("HEARING_OUTCOME_MISSING") == [("OPENED", T0 + 62 * DAY, "MEDIUM")]
    opened = child.changes("HEARING_OUTCOME_MISSING")[0]
    assert opened.alert_id == alert_id(first["child_id"], "HEARING_OUTCOME_MISSING", HEARING)
    assert opened.deadline_ms == T0 + 62 * DAY


def test_reschedule_to_an_earlier_date_brings_the_deadline_forward() -> None:
    child = Child()
    child.feed(scheduled(T0, T0 + 60 * DAY), scheduled(T0 + DAY, T0 + 20 * DAY))
    child.run_clock(T0 + 22 * DAY)
    assert child.of("HEARING_OUTCOME_MISSING") == [("OPENED", T0 + 22 * DAY, "MEDIUM")]


def test_reschedule_after_the_original_date_resolves_then_reopens_the_same_alert() -> None:
    child = Child()
    child.feed(scheduled(T0, T0 + 30 * DAY))
    child.run_clock(T0 + 33 * DAY)
    assert child.of("HEARING_OUTCOME_MISSING") == [("OPENED", T0 + 32 * DAY, "MEDIUM")]
    child.feed(scheduled(T0 + 33 * DAY, T0 + 90 * DAY))       # the court acts after the date
    assert child.of("HEARING_OUTCOME_MISSING")[-1] == ("RESOLVED", T0 + 33 * DAY, "MEDIUM")
    assert "moved the deadline" in child.changes("HEARING_OUTCOME_MISSING")[-1].reason
    child.run_clock(T0 + 92 * DAY)
    assert child.of("HEARING_OUTCOME_MISSING")[-1] == ("OPENED", T0 + 92 * DAY, "MEDIUM")
    changes = child.changes("HEARING_OUTCOME_MISSING")
    assert len({c.alert_id for c in changes}) == 1 and [c.sequence for c in changes] == [1, 2, 3]
    child.feed(event("HearingAttended", T0 + 93 * DAY, hearing_id=HEARING))
    assert child.of("HEARING_OUTCOME_MISSING")[-1] == ("RESOLVED", T0 + 93 * DAY, "MEDIUM")


def test_reschedule_that_occurred_before_the_original_date_but_arrived_late_retracts() -> None:
    child = Child()
    child.feed(scheduled(T0, T0 + 30 * DAY))
    child.run_clock(T0 + 35 * DAY)
    child.feed(scheduled(T0 + 20 * DAY, T0 + 60 * DAY, recorded_at=T0 + 35 * DAY))
    assert [c for c, _, _ in child.of("HEARING_OUTCOME_MISSING")] == ["OPENED", "RETRACTED"]
    child.feed(event("HearingAttended", T0 + 60 * DAY + HOUR, hearing_id=HEARING))
    child.run_clock(T0 + 100 * DAY)
    assert [c for c, _, _ in child.of("HEARING_OUTCOME_MISSING")] == ["OPENED", "RETRACTED"]


def test_attendance_at_the_new_date_keeps_an_alert_resolved_by_a_late_reschedule() -> None:
    child = Child()
    child.feed(scheduled(T0, T0 + 30 * DAY))
    child.run_clock(T0 + 33 * DAY)
    child.feed(scheduled(T0 + 33 * DAY, T0 + 90 * DAY))
    child.feed(event("HearingAttended", T0 + 90 * DAY, hearing_id=HEARING))
    child.run_clock(T0 + 200 * DAY)
    assert [c for c, _, _ in child.of("HEARING_OUTCOME_MISSING")] == ["OPENED", "RESOLVED"]


def test_outcome_of_another_hearing_does_not_meet_and_failure_to_appear_does() -> None:
    child = Child()
    child.feed(scheduled(T0, T0 + 30 * DAY), scheduled(T0, T0 + 40 * DAY, hearing_id=OTHER_HEARING))
    child.feed(event("HearingAttended", T0 + 30 * DAY, hearing_id=OTHER_HEARING))
    child.feed(event("FailureToAppear", T0 + 40 * DAY, hearing_id=OTHER_HEARING))
    child.run_clock(T0 + 45 * DAY)
    changes = child.changes("HEARING_OUTCOME_MISSING")
    assert [(c.change, c.fired_at_ms) for c in changes] == [("OPENED", T0 + 32 * DAY)]
    assert changes[0].alert_id == alert_id(changes[0].child_id, "HEARING_OUTCOME_MISSING", HEARING)


# -- LOST_CONTACT counts failures in a row ------------------------------------------------------

def test_lost_contact_counting_resets_on_contact_and_on_release() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    child.feed(call(T0 + 30 * DAY), call(T0 + 31 * DAY, "WRONG_NUMBER"))
    child.feed(call(T0 + 32 * DAY, "REACHED_SPONSOR_ONLY"))          # contact resets
    child.feed(call(T0 + 33 * DAY), call(T0 + 34 * DAY, "REFUSED"))
    child.feed(event("ReleasedToSponsor", T0 + 35 * DAY))             # a new release resets
    child.feed(call(T0 + 60 * DAY), call(T0 + 61 * DAY))
    assert child.of("LOST_CONTACT") == []
    third = call(T0 + 62 * DAY, "WRONG_NUMBER")
    child.feed(third)
    assert child.of("LOST_CONTACT") == [("OPENED", T0 + 62 * DAY, "HIGH")]
    child.feed(call(T0 + 63 * DAY))                                    # a fourth: same alert
    assert len(child.of("LOST_CONTACT")) == 1
    assert child.state.snapshot()["contact_status"] == "UNREACHABLE"  # type: ignore[union-attr]
    child.feed(event("LocationVerified", T0 + 70 * DAY))
    assert child.of("LOST_CONTACT")[-1] == ("RESOLVED", T0 + 70 * DAY, "HIGH")
    assert child.state.snapshot()["contact_status"] == "REACHABLE"  # type: ignore[union-attr]
    child.feed(call(T0 + 80 * DAY), call(T0 + 81 * DAY), call(T0 + 82 * DAY))
    runs = child.changes("LOST_CONTACT")
    assert [c.change for c in runs] == ["OPENED", "RESOLVED", "OPENED"]
    assert runs[0].alert_id != runs[2].alert_id


def test_late_contact_inside_a_run_retracts_the_lost_contact_alert() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    child.feed(call(T0 + 30 * DAY), call(T0 + 31 * DAY), call(T0 + 32 * DAY))
    assert child.of("LOST_CONTACT") == [("OPENED", T0 + 32 * DAY, "HIGH")]
    contact = event("PostReleaseContact", T0 + 31 * DAY + HOUR, reached=True, recorded_at=T0 + 40 * DAY)
    child.feed(contact)
    assert child.of("LOST_CONTACT")[-1] == ("RETRACTED", T0 + 40 * DAY, "HIGH")
    assert "no longer applies" in child.changes("LOST_CONTACT")[-1].reason


def test_late_failure_inside_a_run_keeps_the_alert_and_moves_it_earlier_without_new_id() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    first = call(T0 + 30 * DAY)
    child.feed(first, call(T0 + 31 * DAY), call(T0 + 33 * DAY))
    late = call(T0 + 32 * DAY, recorded_at=T0 + 34 * DAY)
    child.feed(late)
    changes = child.changes("LOST_CONTACT")
    # lifecycle case 9: OPENED again, same id, at the call that is now the third in a row
    assert [(c.change, c.deadline_ms, c.fired_at_ms, c.sequence) for c in changes] == [
        ("OPENED", T0 + 33 * DAY, T0 + 33 * DAY, 1), ("OPENED", T0 + 32 * DAY, T0 + 32 * DAY, 2)]
    assert changes[1].start_event_id == late["event_id"]
    assert "dated again from" in changes[1].reason
    assert {c.alert_id for c in changes} == {alert_id(first["child_id"], "LOST_CONTACT", first["event_id"])}


# -- conditions of the default rules ------------------------------------------------------------

@pytest.mark.parametrize("fields, fires", [
    ({"outcome": "REACHED_CHILD", "lives_with_sponsor": False}, True),
    ({"outcome": "REACHED_CHILD", "safety_concern": True}, True),
    ({"outcome": "REACHED_SPONSOR_ONLY", "lives_with_sponsor": True, "safety_concern": True}, True),
    ({"outcome": "REACHED_CHILD", "lives_with_sponsor": True}, False),
    ({"outcome": "REACHED_CHILD"}, False),                       # lives_with_sponsor unknown
])
def test_not_with_sponsor_conditions(fields: dict, fires: bool) -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0), call(T0 + 30 * DAY, **fields))
    assert child.of("NOT_WITH_SPONSOR") == ([("OPENED", T0 + 30 * DAY, "CRITICAL")] if fires else [])


def test_bad_release_address_only_for_a_bad_address_and_only_a_valid_change_meets() -> None:
    good = Child()
    good.feed(event("ReleasedToSponsor", T0, address_quality="VALID"))
    good.run_clock(T0 + 30 * DAY)
    assert good.of("BAD_RELEASE_ADDRESS") == []
    blank = Child()
    blank.feed(event("ReleasedToSponsor", T0, address_quality="BLANK", state=None, county=None, zip=None))
    blank.feed(event("AddressChanged", T0 + DAY, address_quality="UNDELIVERABLE"))
    blank.run_clock(T0 + 8 * DAY)
    assert blank.of("BAD_RELEASE_ADDRESS") == [("OPENED", T0 + 7 * DAY, "HIGH")]
    blank.feed(event("LocationVerified", T0 + 9 * DAY))
    assert blank.of("BAD_RELEASE_ADDRESS")[-1] == ("RESOLVED", T0 + 9 * DAY, "HIGH")


def test_a_failed_call_does_not_meet_the_wellbeing_call() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0), call(T0 + 30 * DAY, "NO_ANSWER"))
    child.run_clock(T0 + 38 * DAY)
    assert child.of("WELLBEING_CALL_OVERDUE") == [("OPENED", T0 + 37 * DAY, "MEDIUM")]


def test_nta_served_before_release_meets_nta_not_served() -> None:
    child = Child()
    child.feed(event("NtaServed", T0 - 10 * DAY), event("ReleasedToSponsor", T0))
    child.run_clock(T0 + 400 * DAY)
    assert child.of("NTA_NOT_SERVED") == []


def test_contact_before_the_failure_to_appear_does_not_meet_whereabouts_unknown() -> None:
    child = Child()
    child.feed(event("LocationVerified", T0 - DAY), event("FailureToAppear", T0))
    child.run_clock(T0 + 15 * DAY)
    assert child.of("WHEREABOUTS_UNKNOWN") == [("OPENED", T0 + 14 * DAY, "CRITICAL")]
    assert child.state.snapshot()["contact_status"] == "WHEREABOUTS_UNKNOWN"  # type: ignore[union-attr]


def test_immediate_alert_retracted_by_a_late_closure_that_occurred_before_it() -> None:
    child = Child()
    child.feed(call(T0, "REACHED_CHILD", safety_concern=True))
    child.feed(event("CaseClosed", T0 - HOUR, recorded_at=T0 + DAY))
    assert child.of("NOT_WITH_SPONSOR") == [("OPENED", T0, "CRITICAL"), ("RETRACTED", T0 + DAY, "CRITICAL")]
    child.feed(event("LocationVerified", T0 + 2 * DAY))
    assert len(child.of("NOT_WITH_SPONSOR")) == 2


def test_a_late_follow_up_retracts_a_cancelled_false_alarm() -> None:
    child = Child()
    child.feed(event("ChildEncountered", T0))
    child.run_clock(T0 + 4 * DAY)
    child.feed(event("CaseClosed", T0 + 5 * DAY))
    child.feed(event("CustodyTransferred", T0 + DAY, recorded_at=T0 + 6 * DAY))
    assert [c for c, _, _ in child.of("TRANSFER_OVERDUE")] == ["OPENED", "CANCELLED", "RETRACTED"]


def test_nothing_is_expected_of_a_closed_case_until_it_reopens() -> None:
    child = Child()
    child.feed(event("ChildEncountered", T0), event("HhsReferralNotified", T0 + HOUR),
               event("CustodyTransferred", T0 + DAY), event("CaseClosed", T0 + 2 * DAY, outcome="REMOVED"))
    child.feed(event("AddressChanged", T0 + 10 * DAY), event("ReleasedToSponsor", T0 + 11 * DAY))
    child.run_clock(T0 + 800 * DAY)
    assert child.alerts == []
    again = event("ChildEncountered", T0 + 900 * DAY)
    child.feed(again)
    child.run_clock(T0 + 903 * DAY)
    assert {(a.rule, a.change) for a in child.alerts} == {("HHS_REFERRAL_OVERDUE", "OPENED"),
                                                          ("TRANSFER_OVERDUE", "OPENED")}


# -- notifications ------------------------------------------------------------------------------

def test_each_fact_notifies_exactly_once() -> None:
    child = Child()
    fta = event("FailureToAppear", T0, hearing_id=HEARING)
    departure = event("UnauthorizedDeparture", T0 - 100 * DAY)
    child.feed(departure, fta, dict(fta), dict(departure))
    assert [(n.recipient, n.kind, n.fact_event_id) for n in child.notifications] == [
        ("ICE", "UNAUTHORIZED_DEPARTURE", departure["event_id"]), ("HHS", "FAILURE_TO_APPEAR", fta["event_id"])]
    assert child.notifications[1].occurred_at_ms == T0
    assert child.notifications[1].notification_id == notification_id(
        fta["child_id"], "FAILURE_TO_APPEAR", "HHS", fta["event_id"])
    child.run_clock(T0 + 30 * DAY)
    whereabouts = child.changes("WHEREABOUTS_UNKNOWN")[0]
    alert_notes = [(n.recipient, n.kind, n.fact_event_id, n.occurred_at_ms) for n in child.notifications[2:]]
    assert alert_notes == [("HHS", "WHEREABOUTS_UNKNOWN", whereabouts.alert_id, T0 + 14 * DAY),
                           ("ICE", "WHEREABOUTS_UNKNOWN", whereabouts.alert_id, T0 + 14 * DAY)]
    # replays of the same events through a stored state notify nobody again
    stored = ChildState.from_dict(json.loads(json.dumps(child.state.to_dict())))  # type: ignore[union-attr]
    replay = Child(state=stored, now=child.now)
    replay.feed(departure, fta)
    replay.run_clock(T0 + 60 * DAY)
    assert replay.notifications == []
    assert len({n.notification_id for n in child.notifications}) == 4


def test_an_alert_that_opens_again_does_not_notify_again() -> None:
    policy = policy_from_toml(DEFAULT_POLICY.read_text().replace(
        'reason = "no HearingAttended or FailureToAppear within 2d of the hearing"',
        'reason = "no HearingAttended or FailureToAppear within 2d of the hearing"\nnotify = ["HHS"]'))
    child = Child.with_policy(policy)
    child.feed(scheduled(T0, T0 + 30 * DAY))
    child.run_clock(T0 + 33 * DAY)
    child.feed(scheduled(T0 + 33 * DAY, T0 + 90 * DAY))
    child.run_clock(T0 + 92 * DAY)
    assert [c for c, _, _ in child.of("HEARING_OUTCOME_MISSING")] == ["OPENED", "RESOLVED", "OPENED"]
    assert [n.kind for n in child.notifications] == ["HEARING_OUTCOME_MISSING"]


def test_not_with_sponsor_notifies_both_agencies_once() -> None:
    child = Child()
    child.feed(call(T0, "REACHED_CHILD", lives_with_sponsor=False))
    child.feed(call(T0 + DAY, "REACHED_CHILD", lives_with_sponsor=False))
    kinds = [(n.recipient, n.kind) for n in child.notifications]
    assert kinds == [("HHS", "NOT_WITH_SPONSOR"), ("ICE", "NOT_WITH_SPONSOR")] * 2  # two calls, two alerts
    assert len({n.fact_event_id for n in child.notifications}) == 2


# -- the clock, the input, the state -----------------------------------------------------------

def test_the_clock_never_goes_back_for_a_child() -> None:
    child = Child()
    child.feed(event("ChildEncountered", T0))
    child.tick(T0 + 3 * DAY)
    engine = child.engine
    step = engine.on_event(child.state, event("AddressChanged", T0 + HOUR), T0)   # an older clock
    assert step.state.now_ms == T0 + 3 * DAY
    assert [a.change for a in step.alerts] == []
    assert all(rec[1] == "OPEN" for rec in step.state.alerts["TRANSFER_OVERDUE"].values())


def test_a_tick_before_the_next_wakeup_changes_nothing() -> None:
    child = Child()
    child.feed(event("ChildEncountered", T0))
    state = child.state
    assert state is not None and state.next_wakeup_ms == T0 + 48 * HOUR
    step = child.engine.on_time(state, T0 + 48 * HOUR - 1)
    assert step.state is state and not step.changed and step.alerts == []
    assert child.engine.on_time(state, T0 + 48 * HOUR).changed


def test_the_engine_refuses_bad_input() -> None:
    engine = Engine(default_policy())
    step = engine.on_event(None, event("ChildEncountered", T0), T0)
    with pytest.raises(ValueError, match="child"):
        engine.on_event(step.state, event("AddressChanged", T0, child=2), T0)
    missing = event("AddressChanged", T0)
    del missing["occurred_at"]
    with pytest.raises(ContractError, match="occurred_at"):
        engine.on_event(step.state, missing, T0)
    iso = event("AddressChanged", T0)
    iso["occurred_at"] = "2021-03-01T12:00:00Z"
    with pytest.raises(ContractError, match="int UTC milliseconds"):
        engine.on_event(step.state, iso, T0)
    hearing = scheduled(T0, T0)
    hearing["hearing_at"] = "2021-06-01T15:00:00Z"
    with pytest.raises(ContractError, match="hearing_at"):
        engine.on_event(step.state, hearing, T0)


def test_an_unknown_event_type_is_kept_and_counts_as_an_event() -> None:
    child = Child()
    child.feed(event("AddressChanged", T0))
    newer = event("AddressChanged", T0 + 100 * DAY)
    newer["event_type"] = "SomethingNew"
    child.feed(newer)
    child.run_clock(T0 + 200 * DAY)
    assert child.of("STALE_CASE") == []
    assert child.state.events_seen == 2  # type: ignore[union-attr]


def test_the_input_state_is_never_changed() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0), call(T0 + 30 * DAY), call(T0 + 31 * DAY))
    before = child.state
    frozen = json.dumps(before.to_dict())  # type: ignore[union-attr]
    engine = child.engine
    first = engine.on_event(before, call(T0 + 32 * DAY), T0 + 32 * DAY)
    engine.on_time(first.state, T0 + 400 * DAY)
    second = engine.on_event(before, call(T0 + 32 * DAY, "REACHED_CHILD"), T0 + 32 * DAY)
    assert json.dumps(before.to_dict()) == frozen  # type: ignore[union-attr]
    assert [a.change for a in first.alerts] == ["OPENED"] and second.alerts == []


# -- whole simulated histories -------------------------------------------------------------------

def simulated(children: int, seed: int = 3) -> list[dict]:
    from bench.engine_bench import engine_events
    return engine_events(children, seed)


@pytest.fixture(scope="module")
def history() -> list[dict]:
    return simulated(150)


def arrivals(events: list[dict], tick_every: int = 7 * DAY) -> list[tuple[str, object, int]]:
    """Every event at now = the largest recorded_at so far; every child ticked weekly."""
    out: list[tuple[str, object, int]] = []
    now, next_tick, children = 0, None, []
    for e in events:
        now = max(now, e["recorded_at"])
        if next_tick is None:
            next_tick = now + tick_every
        while now >= next_tick:
            out.extend(("tick", child, next_tick) for child in children)
            next_tick += tick_every
        if e["child_id"] not in children:
            children.append(e["child_id"])
        out.append(("event", e, now))
    out.extend(("tick", child, now + 800 * DAY) for child in children)
    return out


def test_same_inputs_same_outputs(history: list[dict]) -> None:
    plan = arrivals(history)
    first = outputs(Engine(default_policy()), plan)
    second = outputs(Engine(default_policy()), plan)
    from_scratch = outputs(Engine(default_policy(), resume=False), plan)
    assert first[0] == second[0] == from_scratch[0]
    assert first[1] == second[1] == from_scratch[1]
    assert {k: s.to_dict() for k, s in first[2].items()} == {k: s.to_dict() for k, s in from_scratch[2].items()}
    assert len(first[0]) > 500 and len(first[1]) > 10
    assert len({a.rule for a in first[0]}) >= 10


def test_state_round_trip_mid_stream_gives_identical_outputs(history: list[dict]) -> None:
    plan = arrivals(history)
    engine = Engine(default_policy())
    whole = outputs(engine, plan)
    half = len(plan) // 2
    alerts, notes, states = outputs(engine, plan[:half])
    stored = {k: ChildState.from_dict(json.loads(json.dumps(s.to_dict()))) for k, s in states.items()}
    assert all(stored[k] == states[k] for k in states)
    rest_alerts, rest_notes, final = _continue(engine, plan[half:], stored)
    assert alerts + rest_alerts == whole[0]
    assert notes + rest_notes == whole[1]
    assert {k: s.to_dict() for k, s in final.items()} == {k: s.to_dict() for k, s in whole[2].items()}


def _continue(engine: Engine, plan: list, states: dict[str, ChildState]) -> tuple[list, list, dict]:
    alerts: list = []
    notes: list = []
    for kind, item, now in plan:
        if kind == "event":
            key = item["child_id"]  # type: ignore[index]
            step = engine.on_event(states.get(key), item, now)  # type: ignore[arg-type]
        else:
            key = item
            if key not in states:
                continue
            step = engine.on_time(states[key], now)
        states[key] = step.state  # type: ignore[index]
        alerts.extend(step.alerts)
        notes.extend(step.notifications)
    return alerts, notes, states


def test_arrival_order_does_not_change_the_final_outcome(history: list[dict]) -> None:
    by_child: dict[str, list[dict]] = {}
    for e in history:
        by_child.setdefault(e["child_id"], []).append(e)
    rng = random.Random(11)
    engine = Engine(default_policy())
    for events in list(by_child.values())[:80]:
        end = max(e["recorded_at"] for e in events) + 800 * DAY
        in_time = sorted(events, key=lambda e: e["occurred_at"])
        ordered = Child(engine=engine)
        for e in in_time:
            ordered.run_clock(e["occurred_at"])
            ordered.feed(e, now=e["occurred_at"])
        ordered.run_clock(end)
        shuffled = Child(engine=engine)
        mixed = list(events)
        rng.shuffle(mixed)
        shuffled.feed(*mixed, now=end)
        shuffled.run_clock(end)
        for rule in {r.name for r in default_policy().rules}:
            assert ordered.outcome(rule) == shuffled.outcome(rule), (rule, events[0]["child_id"])
        assert ordered.state.snapshot() == shuffled.state.snapshot()  # type: ignore[union-attr]


# -- a policy with one more rule, and a policy changing under a stored state ---------------------

WELFARE_RULE = """
[[rule]]
name = "WELFARE_CONCERN_UNVERIFIED"
severity = "HIGH"
basis = "local practice"
start = { event_type = "WelfareConcernReported", where = { severity = { in = ["HIGH", "CRITICAL"] } } }
met_by = [
  { event_type = "LocationVerified" },
  { event_type = "PostReleaseContact", where = { contact_type = "HOME_VISIT", reached = true } },
]
deadline = "3d"
escalate = [{ after = "7d", severity = "CRITICAL" }]
notify = ["HHS"]
"""


def test_a_custom_policy_with_an_extra_rule_works_without_code_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text() + WELFARE_RULE)
    policy = load_policy(path)
    assert policy.rules[-1].name == "WELFARE_CONCERN_UNVERIFIED"
    child = Child.with_policy(policy)
    child.feed(event("WelfareConcernReported", T0, severity="LOW"))
    concern = event("WelfareConcernReported", T0 + DAY, severity="HIGH")
    child.feed(concern)
    child.feed(event("PostReleaseContact", T0 + 2 * DAY, contact_type="CALL", reached=True))
    child.run_clock(T0 + 9 * DAY)
    assert child.of("WELFARE_CONCERN_UNVERIFIED") == [("OPENED", T0 + 4 * DAY, "HIGH"),
                                                       ("ESCALATED", T0 + 8 * DAY, "CRITICAL")]
    assert child.changes("WELFARE_CONCERN_UNVERIFIED")[0].reason == (
        "no LocationVerified or PostReleaseContact with contact_type HOME_VISIT and reached true "
        "within 3d of WelfareConcernReported with severity HIGH or CRITICAL")
    assert [(n.recipient, n.kind) for n in child.notifications] == [("HHS", "WELFARE_CONCERN_UNVERIFIED")]
    child.feed(event("PostReleaseContact", T0 + 10 * DAY, contact_type="HOME_VISIT", reached=True))
    assert child.of("WELFARE_CONCERN_UNVERIFIED")[-1] == ("RESOLVED", T0 + 10 * DAY, "CRITICAL")


def test_a_stored_state_follows_a_changed_policy() -> None:
    """A rule added later is derived over the stored history. Only the fields some rule of
    the old policy needed were kept: a condition on another field sees it absent in the
    events stored before the change (here the new rule has no condition)."""
    extended = policy_from_toml(DEFAULT_POLICY.read_text() + WELFARE_RULE.replace(
        'start = { event_type = "WelfareConcernReported", where = { severity = { in = ["HIGH", "CRITICAL"] } } }',
        'start = { event_type = "WelfareConcernReported" }'))
    old = Child()
    old.feed(event("WelfareConcernReported", T0, severity="CRITICAL"), event("ChildEncountered", T0))
    old.run_clock(T0 + 3 * DAY)
    assert old.of("TRANSFER_OVERDUE") == [("OPENED", T0 + 3 * DAY, "HIGH")]
    # a new rule is derived over the stored history at the next step
    new = Child(engine=Engine(extended), state=old.state, now=old.now)
    new.tick(T0 + 3 * DAY)
    assert new.of("WELFARE_CONCERN_UNVERIFIED") == [("OPENED", T0 + 3 * DAY, "HIGH")]
    assert new.of("TRANSFER_OVERDUE") == []                         # already emitted: not again
    # a rule removed from the policy: its open alerts are retracted, not dropped
    data = extended.rule("TRANSFER_OVERDUE")
    smaller = Policy(tuple(r for r in default_policy().rules if r is not data and r.name != "TRANSFER_OVERDUE"),
                     default_policy().notices, default_policy().closed_by, default_policy().reopened_by,
                     default_policy().contact)
    last = Child(engine=Engine(smaller), state=new.state, now=new.now)
    last.feed(event("AddressChanged", T0 + 4 * DAY))
    assert last.of("TRANSFER_OVERDUE") == [("RETRACTED", T0 + 4 * DAY, "HIGH")]
    assert "no longer in the policy" in last.changes("TRANSFER_OVERDUE")[0].reason
    assert last.of("WELFARE_CONCERN_UNVERIFIED")[-1][0] == "RETRACTED"


# -- what the engine must not do -----------------------------------------------------------------

def test_detection_reads_no_clock_and_imports_no_faust() -> None:
    core = ("__init__", "policy", "durations", "compiled", "state", "derive", "lifecycle", "ids", "engine")
    root = Path(__file__).resolve().parents[3] / "streams"
    sources = {name: (root / f"{name}.py").read_text() for name in core}
    for name, text in sources.items():
        assert not re.search(r"^\s*(import|from)\s+(faust|mode|aiokafka|confluent_kafka)\b", text, re.M), name
        for clock in ("time.time", "datetime.now", "datetime.utcnow", "time.monotonic", "perf_counter", "date.today"):
            assert clock not in text, (name, clock)


def test_state_is_compact(history: list[dict]) -> None:
    _, _, states = outputs(Engine(default_policy()), arrivals(history))
    sizes = sorted(len(json.dumps(s.to_dict())) for s in states.values())
    events = sorted(s.events_seen for s in states.values())
    assert sizes[len(sizes) // 2] < 160 * events[len(events) // 2] + 1500


def test_rules_that_await_nothing_share_one_fold_across_children(history: list[dict]) -> None:
    """A rule's pass that ends with nothing pending (no instance waiting, no case closed, no
    run counted) hands back the fold it began from, so children share it instead of each
    keeping objects of its own for every rule it ever touched (streams/derive.py)."""
    _, _, states = outputs(Engine(default_policy()), arrivals(history))
    settled: dict[int, set[int]] = {}
    for state in states.values():
        assert state.folds is not None
        for index, fold in enumerate(state.folds):
            if fold is not None and not (fold.awaiting or getattr(fold, "closed", False)
                                         or getattr(fold, "keyed", None) or getattr(fold, "counted", 0)
                                         or fold.earlier_met or fold.earlier_same):  # type: ignore[attr-defined]
                settled.setdefault(index, set()).add(id(fold))
    assert settled, "no child settled any rule: the history proves nothing"
    assert all(len(ids) == 1 for ids in settled.values()), {i: len(ids) for i, ids in settled.items()}


def test_a_settled_state_leaves_the_collectors_lists(history: list[dict]) -> None:
    """Alert records are tuples of strings and ints, so the cyclic collector stops tracking
    them after one pass; a list would stay tracked, and walked, for as long as it lives."""
    _, _, states = outputs(Engine(default_policy()), arrivals(history))
    records = [rec for state in states.values() for by_anchor in state.alerts.values() for rec in by_anchor.values()]
    assert records, "no alert in the history: nothing to check"
    gc.collect()
    assert not any(gc.is_tracked(rec) for rec in records)
    assert not any(gc.is_tracked(fold.awaiting) for state in states.values() for fold in state.folds or ()
                   if fold is not None and not fold.awaiting)
