"""Two refinements of source watermarks (docs/detect.md, "Source watermarks"): a rule whose
alert notifies an agency also awaits the sources of the closures that would cancel it (a
notice cannot be taken back), and a source's `grace` holds its watermark back by a bounded
out-of-orderness for the records it enters late. Neither changes anything for a policy
that configured no watermark."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.streams.detect_support import DAY, HOUR, T0, event
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy import Feeds, PolicyError, SourceFeed
from ucwatch.streams.policy_parser import DEFAULT_POLICY, default_policy, policy_from_toml
from ucwatch.streams.processor import PartitionProcessor
from ucwatch.streams.watermarks import HeldAlerts, PartitionMarks, awaited_sources

POLICY = default_policy()
WHEREABOUTS = "WHEREABOUTS_UNKNOWN"     # FailureToAppear -> contact in 14 d; notifies HHS and ICE
DUE = T0 + 14 * DAY
CONTACT_SOURCES = ("ICE", "ORR", "ORR_PROVIDER", "PRS")   # its met_by's emitters
DISCHARGE = "DISCHARGE_NOTICE_OVERDUE"  # ReleasedToSponsor -> DischargeNotificationSent (ORR) in 24 h
DEADLINE = T0 + DAY


def of_rule(changes: list, rule: str) -> list[tuple[str, str, int, int]]:
    return [(c.change, c.status, c.fired_at_ms, c.sequence) for c in changes if c.rule == rule]


def test_a_notifying_rule_also_awaits_the_sources_of_its_cancellation_and_no_other_rule_does() -> None:
    feeds = POLICY.feeds
    assert awaited_sources(POLICY.rule(WHEREABOUTS), feeds) == tuple(sorted(
        (*CONTACT_SOURCES, "EOIR", "ICE_ERO")))                     # + CaseClosed's emitters
    assert awaited_sources(POLICY.rule(DISCHARGE), feeds) == ("ORR",)  # notifies nobody
    stated = replace(feeds, awaits=((WHEREABOUTS, ("PRS",)),))       # `awaits` still wins
    assert awaited_sources(POLICY.rule(WHEREABOUTS), stated) == ("PRS",)


def test_no_notice_while_a_closure_before_the_deadline_could_still_arrive() -> None:
    engine = Engine(POLICY)
    marks = PartitionMarks(Feeds())
    for source in CONTACT_SOURCES:            # no contact can still come...
        marks.declare(source, DUE + DAY, T0)
    marks.declare("EOIR", DUE - DAY, T0)      # ...but a court closure could
    state = engine.on_event(None, event("FailureToAppear", T0, hearing_id="H1"), T0, marks).state
    pending = engine.on_time(state, DUE + HOUR, marks)
    assert of_rule(pending.alerts, WHEREABOUTS) == [("PENDING", "PENDING", DUE, 1)]
    assert "EOIR complete up to" in pending.alerts[0].reason
    assert [n for n in pending.notifications if n.kind == WHEREABOUTS] == []
    # the closure that occurred before the deadline arrives late: withdrawn, nobody was told
    closed = event("CaseClosed", DUE - 2 * HOUR, source="EOIR", recorded_at=DUE + 2 * DAY)
    step = engine.on_event(pending.state, closed, DUE + 2 * DAY, marks)
    assert of_rule(step.alerts, WHEREABOUTS) == [("WITHDRAWN", "WITHDRAWN", DUE + 2 * DAY, 2)]
    assert step.notifications == []


def test_the_notice_goes_out_once_the_closure_sources_passed_the_deadline_too() -> None:
    engine = Engine(POLICY)
    marks = PartitionMarks(Feeds())
    for source in (*CONTACT_SOURCES, "EOIR", "ICE_ERO"):
        marks.declare(source, DUE - DAY, T0)
    state = engine.on_event(None, event("FailureToAppear", T0, hearing_id="H1"), T0, marks).state
    pending = engine.on_time(state, DUE + HOUR, marks)
    for source in (*CONTACT_SOURCES, "EOIR"):
        marks.declare(source, DUE, DUE + DAY)
    assert of_rule(engine.on_marks(pending.state, DUE + DAY, marks).alerts, WHEREABOUTS) == []  # ICE_ERO behind
    marks.declare("ICE_ERO", DUE, DUE + DAY)
    opened = engine.on_marks(pending.state, DUE + DAY, marks)
    assert of_rule(opened.alerts, WHEREABOUTS) == [("OPENED", "OPEN", DUE, 2)]
    assert sorted(n.recipient for n in opened.notifications) == ["HHS", "ICE"]


def graced(grace_ms: int, **estimate: object) -> PartitionMarks:
    return PartitionMarks(Feeds(sources=(SourceFeed("ORR", grace_ms=grace_ms, **estimate),)))  # type: ignore[arg-type]


def test_grace_holds_the_declared_and_the_estimated_watermark_back() -> None:
    marks = graced(2 * DAY)
    assert marks.mark("ORR", T0) is None            # no watermark: complete, grace or not
    marks.declare("ORR", T0 + 10 * DAY, T0)
    assert marks.mark("ORR", T0) == T0 + 8 * DAY
    assert graced(0).declare("ORR", T0, T0)
    estimated = graced(DAY, estimate=True, ceiling_ms=5 * DAY)
    assert estimated.mark("ORR", T0 + 100 * DAY) == T0 + 94 * DAY   # too few samples: the ceiling, less grace


def test_an_alert_waits_out_the_grace_and_a_record_entered_late_within_it_withdraws_it() -> None:
    engine = Engine(POLICY)
    marks = graced(2 * DAY)
    marks.declare("ORR", DEADLINE + DAY, T0)        # declared past the deadline, but within the grace
    state = engine.on_event(None, event("ReleasedToSponsor", T0, address_quality="VALID"), T0, marks).state
    pending = engine.on_time(state, DEADLINE + HOUR, marks)
    assert of_rule(pending.alerts, DISCHARGE) == [("PENDING", "PENDING", DEADLINE, 1)]
    late = event("DischargeNotificationSent", DEADLINE - HOUR, recorded_at=DEADLINE + DAY)
    assert not marks.behind("ORR", late["occurred_at"], DEADLINE + DAY)   # not the feed's fault
    step = engine.on_event(pending.state, late, DEADLINE + DAY, marks)
    assert of_rule(step.alerts, DISCHARGE) == [("WITHDRAWN", "WITHDRAWN", DEADLINE + DAY, 2)]
    # without the notice, the alert opens (at its deadline) once the grace is behind the watermark too
    marks.declare("ORR", DEADLINE + 2 * DAY, DEADLINE + 3 * DAY)
    opened = engine.on_marks(pending.state, DEADLINE + 3 * DAY, marks)
    assert of_rule(opened.alerts, DISCHARGE) == [("OPENED", "OPEN", DEADLINE, 2)]


def test_held_alerts_are_released_only_when_the_watermark_less_the_grace_passes_the_deadline() -> None:
    marks = graced(2 * DAY)
    held = HeldAlerts()
    held.add("child-1", ("ORR",), DEADLINE)
    marks.declare("ORR", DEADLINE + 2 * DAY - 1, T0)
    assert held.released(marks, T0) == []
    marks.declare("ORR", DEADLINE + 2 * DAY, T0)
    assert held.released(marks, T0) == ["child-1"]


def test_the_processor_releases_a_pending_alert_only_past_the_grace_and_after_a_restart() -> None:
    engine, store = Engine(replace(POLICY, feeds=Feeds(sources=(SourceFeed("ORR", grace_ms=2 * DAY),)))), {}
    p = PartitionProcessor(engine, store, 1)
    p.on_event(event("ReleasedToSponsor", T0, address_quality="VALID", source="ORR"))
    out = p.on_watermark("ORR", DEADLINE + DAY, DEADLINE + HOUR)     # past the deadline, within the grace
    assert [(r["change"], r["deadline"]) for _, r in out.alerts if r["rule"] == DISCHARGE] == [("PENDING", DEADLINE)]
    assert out.notifications == []
    writes = p.drain_writes()
    store.update(writes.states)
    store.update(writes.clock)
    again = PartitionProcessor(engine, store, 1)                     # pending children rebuilt
    assert [r["change"] for _, r in again.on_watermark("ORR", DEADLINE + 2 * DAY - 1, DEADLINE + DAY).alerts] == []
    out = again.on_watermark("ORR", DEADLINE + 2 * DAY, DEADLINE + 3 * DAY)
    assert [(r["change"], r["fired_at"]) for _, r in out.alerts if r["rule"] == DISCHARGE] == [("OPENED", DEADLINE)]


POLICY_TEXT = DEFAULT_POLICY.read_text()


def test_a_policy_source_with_grace_parses_and_changes_no_fingerprint() -> None:
    policy = policy_from_toml(POLICY_TEXT + '\n[[feeds.source]]\nname = "EOIR"\ngrace = "2d"\n'
                                            '[[feeds.source]]\nname = "ORR"\n')
    eoir, orr = policy.feeds.source("EOIR"), policy.feeds.source("ORR")
    assert eoir is not None and eoir.grace_ms == 2 * DAY
    assert orr is not None and orr.grace_ms == 0     # default: the watermark as declared
    assert policy.fingerprint == POLICY.fingerprint


@pytest.mark.parametrize("value", ['"soon"', '"-1d"', "2", "true"])
def test_a_bad_grace_is_refused_with_its_key(value: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_toml(POLICY_TEXT + f'\n[[feeds.source]]\nname = "EOIR"\ngrace = {value}\n')
    assert caught.value.rule is None and caught.value.key == "feeds.source[0].grace"
