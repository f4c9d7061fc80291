"""Every rule of the default policy: on time, late, never, duplicated, out of order, closed.

Each scenario starts the rule's expectation at T0 (after the context events it needs) and
knows the event that meets it. The same six stories are told for every rule; only the
changes of the rule under test are looked at (others fire too, on their own schedules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from detect_support import DAY, HOUR, T0, Child, event

from ucwatch.streams.ids import alert_id
from ucwatch.streams.policy_parser import default_policy

HEARING = "SYN-HR-000000007"


@dataclass(frozen=True)
class Scenario:
    rule: str
    start: tuple[str, dict[str, Any]]
    met: tuple[str, dict[str, Any]]
    deadline: int                                  # after T0
    severity: str
    escalations: tuple[tuple[int, str], ...] = ()  # (after T0, severity)
    before: tuple[tuple[str, int, dict[str, Any]], ...] = ()   # context: (type, offset, fields)
    anchor: str = "start"                          # "start", "first_before" or a key value

    @property
    def immediate(self) -> bool:
        return self.deadline == 0

    def events(self, met_at: int | None) -> tuple[list[dict], dict, dict | None]:
        context = [event(t, T0 + offset, **fields) for t, offset, fields in self.before]
        start = event(self.start[0], T0, **self.start[1])
        met = event(self.met[0], met_at, **self.met[1]) if met_at is not None else None
        return context, start, met

    def expected_id(self, context: list[dict], start: dict) -> str:
        anchor = {"start": start["event_id"], "first_before": context[-2]["event_id"] if context else ""}.get(
            self.anchor, self.anchor)
        return alert_id(start["child_id"], self.rule, anchor)


FAILED = {"outcome": "NO_ANSWER"}
SCENARIOS = [
    Scenario("HHS_REFERRAL_OVERDUE", ("ChildEncountered", {}), ("HhsReferralNotified", {}), 48 * HOUR, "MEDIUM"),
    Scenario("TRANSFER_OVERDUE", ("ChildEncountered", {}), ("CustodyTransferred", {}), 72 * HOUR, "HIGH"),
    Scenario("DEPARTURE_UNRESOLVED", ("UnauthorizedDeparture", {}), ("LocationVerified", {}), 24 * HOUR,
             "CRITICAL"),
    Scenario("DISCHARGE_NOTICE_OVERDUE", ("ReleasedToSponsor", {}), ("DischargeNotificationSent", {}),
             24 * HOUR, "MEDIUM"),
    Scenario("BAD_RELEASE_ADDRESS", ("ReleasedToSponsor", {"address_quality": "MISSING_UNIT"}),
             ("AddressChanged", {"address_quality": "VALID"}), 7 * DAY, "HIGH"),
    Scenario("WELLBEING_CALL_OVERDUE", ("ReleasedToSponsor", {}),
             ("WellbeingCallAttempted", {"outcome": "REACHED_SPONSOR_ONLY"}), 37 * DAY, "MEDIUM"),
    Scenario("LOST_CONTACT", ("WellbeingCallAttempted", {"outcome": "REFUSED", "attempt": 3}),
             ("PostReleaseContact", {"reached": True}), 0, "HIGH",
             before=(("ReleasedToSponsor", -40 * DAY, {}),
                     ("WellbeingCallAttempted", -2 * DAY, FAILED),
                     ("WellbeingCallAttempted", -1 * DAY, {"outcome": "WRONG_NUMBER", "attempt": 2})),
             anchor="first_before"),
    Scenario("NOT_WITH_SPONSOR", ("WellbeingCallAttempted", {"outcome": "REACHED_CHILD", "lives_with_sponsor": False}),
             ("LocationVerified", {}), 0, "CRITICAL"),
    Scenario("NTA_NOT_SERVED", ("ReleasedToSponsor", {}), ("NtaServed", {}), 90 * DAY, "MEDIUM",
             escalations=((180 * DAY, "HIGH"),)),
    Scenario("NTA_NOT_FILED", ("NtaServed", {}), ("NtaFiled", {}), 30 * DAY, "MEDIUM"),
    Scenario("HEARING_NOT_SCHEDULED", ("NtaFiled", {}), ("HearingScheduled", {"hearing_at": T0 + 90 * DAY}),
             30 * DAY, "LOW"),
    Scenario("HEARING_OUTCOME_MISSING", ("HearingScheduled", {"hearing_id": HEARING, "hearing_at": T0 + 60 * DAY}),
             ("HearingAttended", {"hearing_id": HEARING}), 62 * DAY, "MEDIUM", anchor=HEARING),
    Scenario("WHEREABOUTS_UNKNOWN", ("FailureToAppear", {}), ("LocationVerified", {}), 14 * DAY, "CRITICAL"),
    Scenario("STALE_CASE", ("AddressChanged", {}), ("PostReleaseContact", {"reached": False}), 180 * DAY, "LOW",
             escalations=((365 * DAY, "MEDIUM"),)),
]
BY_RULE = {s.rule: s for s in SCENARIOS}
WITH_DEADLINE = [s for s in SCENARIOS if not s.immediate]


def ids(scenarios: list[Scenario]) -> list[str]:
    return [s.rule for s in scenarios]


def test_every_rule_of_the_default_policy_has_a_scenario() -> None:
    assert sorted(BY_RULE) == sorted(r.name for r in default_policy().rules)
    for rule in default_policy().rules:
        s = BY_RULE[rule.name]
        assert (rule.severity, rule.deadline_ms if rule.deadline_from is None else None) == (
            s.severity, s.deadline if rule.deadline_from is None else None)
        assert tuple((e.after_ms, e.severity) for e in rule.escalations) == s.escalations


@pytest.mark.parametrize("s", WITH_DEADLINE, ids=ids(WITH_DEADLINE))
def test_met_on_the_deadline_raises_nothing(s: Scenario) -> None:
    child = Child()
    context, start, met = s.events(T0 + s.deadline)
    child.feed(*context, start, met)
    child.run_clock(T0 + s.deadline + DAY)
    assert child.of(s.rule) == []


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_late_follow_up_opens_then_resolves(s: Scenario) -> None:
    child = Child()
    late = T0 + s.deadline + 5 * HOUR
    context, start, met = s.events(late)
    child.feed(*context, start)
    child.run_clock(T0 + s.deadline)
    child.feed(met)
    assert child.of(s.rule) == [("OPENED", T0 + s.deadline, s.severity), ("RESOLVED", late, s.severity)]
    opened, resolved = child.changes(s.rule)
    assert opened.alert_id == resolved.alert_id == s.expected_id(context, start)
    assert (opened.status, resolved.status) == ("OPEN", "RESOLVED")
    assert (opened.sequence, resolved.sequence) == (1, 2)
    assert opened.deadline_ms == T0 + s.deadline
    assert opened.start_event_id == start["event_id"]
    assert opened.basis == default_policy().rule(s.rule).basis
    assert opened.reason == default_policy().rule(s.rule).reason
    assert s.met[0] in resolved.reason and "after the deadline" in resolved.reason
    assert child.state is not None and child.state.snapshot()["open_alerts"] == [
        a for a in child.state.snapshot()["open_alerts"] if a["rule"] != s.rule]


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_never_met_opens_and_escalates(s: Scenario) -> None:
    child = Child()
    context, start, _ = s.events(None)
    child.feed(*context, start)
    if not s.immediate:
        assert child.state is not None and child.state.next_wakeup_ms is not None
        assert child.state.next_wakeup_ms <= T0 + s.deadline
        child.run_clock(T0 + s.deadline - 1)
        assert child.of(s.rule) == []
    child.run_clock(T0 + s.deadline)
    expected = [("OPENED", T0 + s.deadline, s.severity)]
    assert child.of(s.rule) == expected
    for at, severity in s.escalations:
        child.run_clock(T0 + at - 1)
        assert child.of(s.rule) == expected
        child.run_clock(T0 + at)
        expected.append(("ESCALATED", T0 + at, severity))
        assert child.of(s.rule) == expected
    child.run_clock(T0 + 800 * DAY)
    assert child.of(s.rule) == expected
    changes = child.changes(s.rule)
    assert [a.sequence for a in changes] == list(range(1, len(expected) + 1))
    assert len({a.alert_id for a in changes}) == 1
    assert {"alert_id": changes[0].alert_id, "rule": s.rule, "severity": expected[-1][2]} in (
        child.state.snapshot()["open_alerts"])  # type: ignore[union-attr]


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_duplicates_change_nothing(s: Scenario) -> None:
    late = T0 + s.deadline + 5 * HOUR
    context, start, met = s.events(late)
    once, twice = Child(), Child()
    for child, copies in ((once, 1), (twice, 2)):
        for e in [*context, start]:
            for copy in range(copies):
                step = child.feed(dict(e))
                if copy:
                    assert (step.changed, step.alerts, step.notifications) == (False, [], [])
        child.run_clock(T0 + s.deadline)
        for copy in range(copies):
            step = child.feed(dict(met))  # type: ignore[arg-type]
            if copy:
                assert (step.changed, step.alerts, step.notifications) == (False, [], [])
                assert step.state is child.state
        child.run_clock(T0 + 400 * DAY)
    assert once.alerts == twice.alerts
    assert once.notifications == twice.notifications
    assert once.state == twice.state


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
@pytest.mark.parametrize("met_late", [True, False], ids=["late", "on-time"])
def test_out_of_order_arrival_gives_the_in_order_outcome(s: Scenario, met_late: bool) -> None:
    """Whatever the arrival order, the same alerts end in the same status. When everything
    arrives after the follow-up, the changes are the same too; a start that arrives after
    its deadline but before its on-time follow-up is a false alarm, opened then retracted."""
    met_at = T0 + s.deadline + (5 * HOUR if met_late or s.immediate else 0)
    context, start, met = s.events(met_at)
    end = max(met_at, T0 + s.deadline) + HOUR
    in_order = Child()
    in_order.feed(*context, start)
    in_order.run_clock(met_at - 1)
    in_order.feed(met)  # type: ignore[arg-type]
    in_order.run_clock(end)
    reverse = Child()
    reverse.feed(met, *reversed([*context, start]), now=end)  # type: ignore[arg-type]
    start_first = Child()
    start_first.feed(start, met, *context, now=end)  # type: ignore[arg-type]
    assert reverse.outcome(s.rule) == in_order.outcome(s.rule) == start_first.outcome(s.rule)
    assert reverse.of(s.rule) == in_order.of(s.rule)
    if met_late or s.immediate:
        assert start_first.of(s.rule) == in_order.of(s.rule)
    else:
        assert in_order.of(s.rule) == []
        assert [c for c, _, _ in start_first.of(s.rule)] == ["OPENED", "RETRACTED"]


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_event_older_than_the_whole_history_still_counts(s: Scenario) -> None:
    context, start, met = s.events(T0 + s.deadline + HOUR)
    child = Child()
    child.feed(event("AddressChanged", T0 + 500 * DAY))
    child.feed(met, *context, start, now=T0 + 501 * DAY)  # type: ignore[arg-type]
    mine = [(a.change, a.fired_at_ms) for a in child.changes(s.rule) if a.start_event_id == start["event_id"]]
    assert mine == [("OPENED", T0 + s.deadline), ("RESOLVED", T0 + s.deadline + HOUR)]


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_case_closed_before_the_deadline_never_opens(s: Scenario) -> None:
    child = Child()
    context, start, _ = s.events(None)
    closed_at = T0 - HOUR if s.immediate else T0 + s.deadline // 2
    closure = event("CaseClosed", closed_at)
    child.feed(*context)
    child.feed(*((closure, start) if s.immediate else (start, closure)), now=max(T0, closed_at))
    child.run_clock(T0 + 800 * DAY)
    assert child.of(s.rule) == []


@pytest.mark.parametrize("s", SCENARIOS, ids=ids(SCENARIOS))
def test_case_closed_while_open_cancels(s: Scenario) -> None:
    child = Child()
    context, start, met = s.events(T0 + s.deadline + 2 * DAY)
    child.feed(*context, start)
    child.run_clock(T0 + s.deadline)
    closed_at = T0 + s.deadline + DAY
    child.feed(event("CaseClosed", closed_at))
    child.feed(met)  # type: ignore[arg-type]
    child.run_clock(T0 + 800 * DAY)
    assert child.of(s.rule) == [("OPENED", T0 + s.deadline, s.severity), ("CANCELLED", closed_at, s.severity)]
    cancelled = child.changes(s.rule)[-1]
    assert cancelled.status == "CANCELLED" and "CaseClosed" in cancelled.reason
    assert all(a["rule"] != s.rule for a in child.state.snapshot()["open_alerts"])  # type: ignore[union-attr]


@pytest.mark.parametrize("s", WITH_DEADLINE, ids=ids(WITH_DEADLINE))
def test_late_closure_that_occurred_before_the_deadline_retracts(s: Scenario) -> None:
    child = Child()
    context, start, _ = s.events(None)
    child.feed(*context, start)
    child.run_clock(T0 + s.deadline + DAY)
    closed_at = T0 + s.deadline - HOUR
    child.feed(event("CaseClosed", closed_at, recorded_at=T0 + s.deadline + 2 * DAY))
    assert child.of(s.rule) == [("OPENED", T0 + s.deadline, s.severity),
                                ("RETRACTED", T0 + s.deadline + 2 * DAY, s.severity)]
    assert "case closed (CaseClosed) on or before the deadline" in child.changes(s.rule)[-1].reason


@pytest.mark.parametrize("s", WITH_DEADLINE, ids=ids(WITH_DEADLINE))
def test_late_event_showing_the_follow_up_was_on_time_retracts(s: Scenario) -> None:
    child = Child()
    context, start, met = s.events(T0 + s.deadline - HOUR)
    child.feed(*context, start)
    child.run_clock(T0 + s.deadline + 3 * DAY)
    met["recorded_at"] = T0 + s.deadline + 3 * DAY  # type: ignore[index]
    child.feed(met)  # type: ignore[arg-type]
    assert child.of(s.rule) == [("OPENED", T0 + s.deadline, s.severity),
                                ("RETRACTED", T0 + s.deadline + 3 * DAY, s.severity)]
    retracted = child.changes(s.rule)[-1]
    assert retracted.status == "RETRACTED" and retracted.sequence == 2
    assert "on or before the deadline" in retracted.reason
    child.run_clock(T0 + 800 * DAY)
    assert len([a for a in child.changes(s.rule) if a.start_event_id == start["event_id"]]) == 2
