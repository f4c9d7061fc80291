"""Source watermarks in the pure engine: an alert due while a source it awaits has not
delivered up to the deadline is PENDING (not notified), opens at the deadline once the
watermark passes it, is WITHDRAWN if the follow-up turns out to have come in time, and is
held by a known outage until the window ends. Without watermarks nothing changes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.streams.detect_support import DAY, HOUR, T0, event
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy import Feeds, Outage, PolicyError, SourceFeed
from ucwatch.streams.policy_parser import DEFAULT_POLICY, default_policy, policy_from_toml
from ucwatch.streams.state import ChildState
from ucwatch.streams.watermarks import PartitionMarks, awaited_sources

POLICY = default_policy()
RULE = "DISCHARGE_NOTICE_OVERDUE"      # ReleasedToSponsor -> DischargeNotificationSent (ORR) in 24 h
DEADLINE = T0 + DAY


def released(engine: Engine, marks: PartitionMarks | None, now: int = T0) -> ChildState:
    return engine.on_event(None, event("ReleasedToSponsor", T0, address_quality="VALID"), now, marks).state


def of_rule(changes: list, rule: str = RULE) -> list[tuple[str, str, int, int]]:
    return [(c.change, c.status, c.fired_at_ms, c.sequence) for c in changes if c.rule == rule]


def declared(source: str, up_to: int, now: int) -> PartitionMarks:
    marks = PartitionMarks(Feeds())
    marks.declare(source, up_to, now)
    return marks


def test_rules_await_the_sources_of_their_follow_ups() -> None:
    feeds = POLICY.feeds
    assert awaited_sources(POLICY.rule(RULE), feeds) == ("ORR",)
    assert awaited_sources(POLICY.rule("HEARING_OUTCOME_MISSING"), feeds) == ("EOIR",)
    # it notifies HHS and ICE: it also awaits the emitters of CaseClosed (its cancelled_by), EOIR and ICE_ERO
    assert awaited_sources(POLICY.rule("WHEREABOUTS_UNKNOWN"), feeds) == (
        "EOIR", "ICE", "ICE_ERO", "ORR", "ORR_PROVIDER", "PRS")
    assert awaited_sources(POLICY.rule("NOT_WITH_SPONSOR"), feeds) == ()   # fires at once: waits for nothing
    stated = replace(feeds, awaits=(("NOT_WITH_SPONSOR", ("PRS",)),))
    assert awaited_sources(POLICY.rule("NOT_WITH_SPONSOR"), stated) == ("PRS",)


def test_without_watermarks_alerts_open_at_the_deadline_as_before() -> None:
    engine = Engine(POLICY)
    for marks in (None, PartitionMarks(Feeds()), declared("EOIR", T0, T0)):  # EOIR is not awaited by RULE
        state = released(engine, marks)
        step = engine.on_time(state, DEADLINE + HOUR, marks)
        assert of_rule(step.alerts) == [("OPENED", "OPEN", DEADLINE, 1)]


def test_due_while_the_source_is_behind_the_deadline_is_pending_and_not_notified() -> None:
    engine = Engine(POLICY)
    marks = declared("ORR", DEADLINE - HOUR, T0)
    state = released(engine, marks)
    step = engine.on_time(state, DEADLINE + HOUR, marks)
    assert of_rule(step.alerts) == [("PENDING", "PENDING", DEADLINE, 1)]
    assert "ORR complete up to" in step.alerts[0].reason
    assert step.state.open_alerts() == [] and step.notifications == []
    # the clock going on does not open it while the watermark stays behind
    later = engine.on_marks(step.state, DEADLINE + 5 * DAY, marks)
    assert of_rule(later.alerts) == []


def test_a_pending_alert_opens_at_the_deadline_when_the_watermark_passes_it() -> None:
    engine = Engine(POLICY)
    marks = declared("ORR", DEADLINE - HOUR, T0)
    pending = engine.on_time(released(engine, marks), DEADLINE + HOUR, marks)
    marks.declare("ORR", DEADLINE + 2 * DAY, DEADLINE + 3 * DAY)
    step = engine.on_marks(pending.state, DEADLINE + 3 * DAY, marks)
    assert of_rule(step.alerts) == [("OPENED", "OPEN", DEADLINE, 2)]   # when the child became overdue
    assert step.alerts[0].alert_id == pending.alerts[0].alert_id
    assert step.alerts[0].deadline_ms == DEADLINE
    assert [a["rule"] for a in step.state.open_alerts()] == [RULE]


def test_a_pending_alert_whose_follow_up_came_in_time_is_withdrawn_not_retracted() -> None:
    engine = Engine(POLICY)
    marks = declared("ORR", DEADLINE - HOUR, T0)
    pending = engine.on_time(released(engine, marks), DEADLINE + HOUR, marks)
    notice = event("DischargeNotificationSent", DEADLINE - 2 * HOUR, recorded_at=DEADLINE + DAY)
    step = engine.on_event(pending.state, notice, DEADLINE + DAY, marks)
    assert of_rule(step.alerts) == [("WITHDRAWN", "WITHDRAWN", DEADLINE + DAY, 2)]
    assert "on or before the deadline" in step.alerts[0].reason
    assert step.notifications == [] and step.state.open_alerts() == []
    # the watermark passing the deadline afterwards changes nothing
    marks.declare("ORR", DEADLINE + DAY, DEADLINE + 2 * DAY)
    assert of_rule(engine.on_marks(step.state, DEADLINE + 2 * DAY, marks).alerts) == []


def test_a_late_event_after_the_watermark_passed_still_retracts() -> None:
    engine = Engine(POLICY)
    marks = declared("ORR", DEADLINE + HOUR, T0)
    opened = engine.on_time(released(engine, marks), DEADLINE + 2 * HOUR, marks)
    assert of_rule(opened.alerts) == [("OPENED", "OPEN", DEADLINE, 1)]
    assert marks.behind("ORR", DEADLINE - HOUR, DEADLINE + 3 * DAY)
    late = event("DischargeNotificationSent", DEADLINE - HOUR, recorded_at=DEADLINE + 3 * DAY)
    step = engine.on_event(opened.state, late, DEADLINE + 3 * DAY, marks)
    assert of_rule(step.alerts) == [("RETRACTED", "RETRACTED", DEADLINE + 3 * DAY, 2)]


def test_a_pending_notifying_alert_notifies_only_when_it_opens() -> None:
    engine = Engine(POLICY)
    marks = declared("ICE", T0, T0)    # one of the sources WHEREABOUTS_UNKNOWN awaits
    fta = event("FailureToAppear", T0, hearing_id="H1")
    state = engine.on_event(None, fta, T0, marks).state
    due = T0 + 14 * DAY
    pending = engine.on_time(state, due + HOUR, marks)
    assert of_rule(pending.alerts, "WHEREABOUTS_UNKNOWN") == [("PENDING", "PENDING", due, 1)]
    assert pending.notifications == []
    marks.declare("ICE", due, due + DAY)
    opened = engine.on_marks(pending.state, due + DAY, marks)
    assert of_rule(opened.alerts, "WHEREABOUTS_UNKNOWN") == [("OPENED", "OPEN", due, 2)]
    assert sorted(n.recipient for n in opened.notifications) == ["HHS", "ICE"]


def test_an_outage_window_holds_the_expectation_until_it_ends() -> None:
    start, end = T0 + 12 * HOUR, T0 + 5 * DAY
    policy = replace(POLICY, feeds=Feeds(outages=(Outage("ORR", start, end, "ORR system migration"),)))
    engine = Engine(policy)
    marks = PartitionMarks(policy.feeds)
    state = released(engine, marks)
    held = engine.on_time(state, DEADLINE + HOUR, marks)
    assert of_rule(held.alerts) == [("PENDING", "PENDING", DEADLINE, 1)]
    assert "ORR system migration" in held.alerts[0].reason
    assert held.state.next_wakeup_ms == end          # evaluated again when the window ends
    assert of_rule(engine.on_time(held.state, end - 1, marks).alerts) == []
    step = engine.on_time(held.state, end, marks)
    assert of_rule(step.alerts) == [("OPENED", "OPEN", DEADLINE, 2)]


def test_an_outage_holds_only_deadlines_inside_it_and_only_rules_awaiting_that_source() -> None:
    policy = replace(POLICY, feeds=Feeds(outages=(Outage("EOIR", T0, T0 + 10 * DAY, "court closure"),)))
    engine = Engine(policy)
    marks = PartitionMarks(policy.feeds)
    step = engine.on_time(released(engine, marks), DEADLINE + HOUR, marks)
    assert of_rule(step.alerts) == [("OPENED", "OPEN", DEADLINE, 1)]   # RULE awaits ORR, not EOIR


def test_estimated_watermark_is_the_clock_minus_a_high_percentile_of_lateness_capped() -> None:
    feed = SourceFeed("EOIR", estimate=True, percentile=90.0, window=40, min_samples=5, ceiling_ms=10 * DAY)
    marks = PartitionMarks(Feeds(sources=(feed,)))
    now = T0 + 100 * DAY

    def arrive(days: int, count: int) -> None:
        for _ in range(count):
            marks.observe("EOIR", now - days * DAY, now, now, behind=False)

    arrive(2, 4)
    assert marks.mark("EOIR", now) == now - 10 * DAY       # too few samples: the ceiling
    arrive(2, 1)
    assert marks.mark("EOIR", now) == now - 2 * DAY        # the 90th percentile, once there are enough
    arrive(30, 26)                                          # 31 events: the bound is not taken again yet
    assert marks.mark("EOIR", now) == now - 2 * DAY
    arrive(30, 1)                                           # the 32nd (REFRESH): 30 days, capped
    assert marks.mark("EOIR", now) == now - 10 * DAY
    assert marks.mark("ORR", now) is None                   # neither declared nor estimated
    again = PartitionMarks.from_dict(marks.to_dict(), marks.feeds)
    assert again.mark("EOIR", now) == now - 10 * DAY and again.samples == marks.samples


def test_a_declared_watermark_never_goes_back_and_wins_over_the_estimate() -> None:
    marks = PartitionMarks(Feeds(sources=(SourceFeed("EOIR", estimate=True),)))
    assert marks.declare("EOIR", T0, T0) and not marks.declare("EOIR", T0 - DAY, T0 + DAY)
    assert marks.mark("EOIR", T0 + 100 * DAY) == T0


POLICY_TEXT = DEFAULT_POLICY.read_text()


def with_text(extra: str, rule_key: str = "") -> str:
    text = POLICY_TEXT + "\n" + extra
    if rule_key:
        text = text.replace('name = "HEARING_OUTCOME_MISSING"', f'name = "HEARING_OUTCOME_MISSING"\n{rule_key}')
    return text


def test_a_policy_with_feeds_parses_sources_outages_and_stated_sources() -> None:
    policy = policy_from_toml(with_text(
        '[[feeds.source]]\nname = "EOIR"\nstall_after = "3d"\n'
        'estimate = { percentile = 95, window = 200, min_samples = 10, ceiling = "10d" }\n'
        '[[feeds.source]]\nname = "STATE_COURT"\nemits = ["HearingAttended"]\n'
        '[[feeds.outage]]\nsource = "EOIR"\nfrom = 2023-01-01T00:00:00Z\nuntil = "2023-01-08T00:00:00Z"\n'
        'reason = "court closure"\n',
        rule_key='awaits = ["EOIR", "STATE_COURT"]'))
    eoir = policy.feeds.source("EOIR")
    assert eoir is not None and eoir.estimate and eoir.percentile == 95 and eoir.ceiling_ms == 10 * DAY
    assert eoir.stall_after_ms == 3 * DAY and eoir.window == 200 and eoir.min_samples == 10
    assert policy.feeds.outages[0].end_ms - policy.feeds.outages[0].start_ms == 7 * DAY
    assert dict(policy.feeds.awaits) == {"HEARING_OUTCOME_MISSING": ("EOIR", "STATE_COURT")}
    assert policy.fingerprint == POLICY.fingerprint     # no event's mask changes


@pytest.mark.parametrize(("extra", "rule_key", "rule", "key"), [
    ("", 'awaits = ["EOIRR"]', "HEARING_OUTCOME_MISSING", "awaits"),
    ('[[feeds.outage]]\nsource = "COURTS"\nfrom = 2023-01-01T00:00:00Z\nuntil = 2023-01-02T00:00:00Z\n',
     "", None, "feeds.outage[0].source"),
    ('[[feeds.outage]]\nsource = "EOIR"\nfrom = 2023-01-02T00:00:00Z\nuntil = 2023-01-01T00:00:00Z\n',
     "", None, "feeds.outage[0].until"),
    ('[[feeds.source]]\nname = "EOIR"\nestimate = { percentile = 150 }\n', "", None,
     "feeds.source[0].estimate.percentile"),
    ('[[feeds.source]]\nname = "EOIR"\nstall_after = "soon"\n', "", None, "feeds.source[0].stall_after"),
    ('[[feeds.source]]\nname = "EOIR"\nlag = "1d"\n', "", None, "feeds.source[0].lag"),
])
def test_a_bad_feeds_setting_is_refused_with_its_rule_and_key(extra: str, rule_key: str, rule: str | None,
                                                             key: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_toml(with_text(extra, rule_key))
    assert caught.value.rule == rule and caught.value.key == key
    if rule_key:
        assert "unknown source 'EOIRR'" in str(caught.value)
