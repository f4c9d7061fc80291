"""The per-child state: JSON round trip, and the snapshot for the compacted child-state topic."""

from __future__ import annotations

import json

import pytest
from detect_support import DAY, HOUR, T0, Child, event

from ucwatch.streams.state import ChildState

HEARING = "SYN-HR-000000007"


def snapshot(child: Child) -> dict:
    assert child.state is not None
    return child.state.snapshot()


def test_snapshot_of_a_new_child() -> None:
    child = Child()
    child.feed(event("ChildEncountered", T0))
    assert snapshot(child) == {
        "child_id": "SYN-CH-000000001", "custody_status": "IN_DHS_CUSTODY", "contact_status": "UNKNOWN",
        "court_status": "NO_NTA", "release_state": None, "next_hearing_at_ms": None, "last_contact_at_ms": None,
        "open_alerts": [], "last_event_at_ms": T0, "events_seen": 1}


def test_release_state_is_the_state_of_the_last_release_by_event_time() -> None:
    """The queue's filter by US state of release (issue 10): ReleasedToSponsor.state, kept
    whatever the policy says; an address change later does not move the release."""
    child = Child()
    child.feed(event("ChildEncountered", T0, state="AZ"))
    assert snapshot(child)["release_state"] is None
    child.feed(event("ReleasedToSponsor", T0 + 30 * DAY, state="TX"),
               event("AddressChanged", T0 + 40 * DAY, state="NM"))
    assert snapshot(child)["release_state"] == "TX"
    child.feed(event("ReleasedToSponsor", T0 + 90 * DAY, state="FL"),
               event("ReleasedToSponsor", T0 + 20 * DAY, state="CA"))
    assert snapshot(child)["release_state"] == "FL"  # the late CA release occurred before the TX one
    again = ChildState.from_dict(json.loads(json.dumps(child.state.to_dict())))  # type: ignore[union-attr]
    assert again.snapshot()["release_state"] == "FL"


@pytest.mark.parametrize("events, custody", [
    ([("ChildEncountered", 0)], "IN_DHS_CUSTODY"),
    ([("ChildEncountered", 0), ("CustodyTransferred", 1)], "IN_HHS_CUSTODY"),
    ([("ChildEncountered", 0), ("CustodyTransferred", 1), ("ReleasedToSponsor", 2)], "RELEASED_TO_SPONSOR"),
    ([("CustodyTransferred", 1), ("UnauthorizedDeparture", 2), ("LocationVerified", 3)], "LEFT_HHS_CARE"),
    ([("ReleasedToSponsor", 2), ("CaseClosed", 3)], "CLOSED"),
    ([("CaseClosed", 3), ("ReleasedToSponsor", 2)], "CLOSED"),            # by event time, not arrival
    ([("CaseClosed", 3), ("ChildEncountered", 4)], "IN_DHS_CUSTODY"),     # encountered again
    ([("AddressChanged", 0)], "UNKNOWN"),
])
def test_custody_status(events: list[tuple[str, int]], custody: str) -> None:
    child = Child()
    child.feed(*(event(t, T0 + day * DAY) for t, day in events), now=T0 + 10 * DAY)
    assert snapshot(child)["custody_status"] == custody


def test_court_status_through_the_proceedings() -> None:
    child = Child()
    steps = [
        (event("NtaIssued", T0), "NTA_ISSUED", None),
        (event("NtaServed", T0 + DAY), "NTA_SERVED", None),
        (event("NtaFiled", T0 + 2 * DAY), "NTA_FILED", None),
        (event("HearingScheduled", T0 + 3 * DAY, hearing_id=HEARING, hearing_at=T0 + 60 * DAY), "HEARING_SCHEDULED",
         T0 + 60 * DAY),
        (event("HearingScheduled", T0 + 4 * DAY, hearing_id=HEARING, hearing_at=T0 + 90 * DAY), "HEARING_SCHEDULED",
         T0 + 90 * DAY),
        (event("HearingAttended", T0 + 90 * DAY, hearing_id=HEARING, next_hearing_at=T0 + 200 * DAY),
         "HEARING_SCHEDULED", T0 + 200 * DAY),
        (event("HearingScheduled", T0 + 90 * DAY + HOUR, hearing_id="SYN-HR-000000008", hearing_at=T0 + 200 * DAY),
         "HEARING_SCHEDULED", T0 + 200 * DAY),
        (event("FailureToAppear", T0 + 200 * DAY, hearing_id="SYN-HR-000000008"), "FAILED_TO_APPEAR", None),
        (event("InAbsentiaOrder", T0 + 200 * DAY + 1, hearing_id="SYN-HR-000000008"),
         "ORDERED_REMOVED_IN_ABSENTIA", None),
        (event("CaseClosed", T0 + 200 * DAY + 2, outcome="REMOVAL_ORDER"), "ORDERED_REMOVED_IN_ABSENTIA", None),
    ]
    for e, court, next_hearing in steps:
        child.feed(e)
        assert (snapshot(child)["court_status"], snapshot(child)["next_hearing_at_ms"]) == (court, next_hearing), e
    other = Child()
    other.feed(event("NtaFiled", T0), event("HearingScheduled", T0, hearing_id=HEARING, hearing_at=T0 + DAY),
               event("HearingAttended", T0 + DAY, hearing_id=HEARING), event("CaseClosed", T0 + DAY + 1))
    assert snapshot(other)["court_status"] == "CLOSED"


def test_contact_status_keeps_unreachable_whereabouts_unknown_and_failure_to_appear_apart() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0))
    assert snapshot(child)["contact_status"] == "UNKNOWN"
    child.feed(event("FailureToAppear", T0 + DAY, hearing_id=HEARING))
    assert snapshot(child)["contact_status"] == "UNKNOWN"                # an FTA alone is a court fact
    child.feed(event("PostReleaseContact", T0 + 2 * DAY, reached=True))
    assert snapshot(child)["contact_status"] == "REACHABLE"
    assert snapshot(child)["last_contact_at_ms"] == T0 + 2 * DAY
    child.feed(*(event("WellbeingCallAttempted", T0 + (3 + i) * DAY, outcome="NO_ANSWER") for i in range(3)))
    assert snapshot(child)["contact_status"] == "UNREACHABLE"
    assert "LOST_CONTACT" in [a["rule"] for a in snapshot(child)["open_alerts"]]
    child.feed(event("FailureToAppear", T0 + 10 * DAY, hearing_id="SYN-HR-000000008"))
    child.run_clock(T0 + 24 * DAY)
    assert snapshot(child)["contact_status"] == "WHEREABOUTS_UNKNOWN"    # the graver of the two
    assert {a["rule"] for a in snapshot(child)["open_alerts"]} >= {"LOST_CONTACT", "WHEREABOUTS_UNKNOWN"}
    child.feed(event("LocationVerified", T0 + 25 * DAY))
    assert snapshot(child)["contact_status"] == "REACHABLE"
    assert snapshot(child)["last_contact_at_ms"] == T0 + 25 * DAY
    child.feed(event("PostReleaseContact", T0 + 20 * DAY, reached=True, recorded_at=T0 + 26 * DAY))
    assert snapshot(child)["last_contact_at_ms"] == T0 + 25 * DAY        # the latest in event time


def test_round_trip_through_json() -> None:
    child = Child()
    child.feed(event("ReleasedToSponsor", T0, address_quality="BLANK", state=None, county=None, zip=None),
               event("HearingScheduled", T0, hearing_id=HEARING, hearing_at=T0 + 30 * DAY),
               event("FailureToAppear", T0 + 30 * DAY, hearing_id=HEARING))
    child.run_clock(T0 + 60 * DAY)
    state = child.state
    assert state is not None
    text = json.dumps(state.to_dict())
    again = ChildState.from_dict(json.loads(text))
    assert again == state and again.to_dict() == state.to_dict()
    assert again.snapshot() == state.snapshot()
    assert again.next_wakeup_ms == state.next_wakeup_ms
    assert again.folds is None and again.event_ids == state.event_ids
    with pytest.raises(ValueError, match="format"):
        ChildState.from_dict({**state.to_dict(), "v": 99})


def test_the_snapshot_record_carries_release_state_in_schema_v2() -> None:
    from ucwatch.schemas.catalog import default_catalog
    from ucwatch.schemas.registry import EmbeddedRegistry
    from ucwatch.schemas.serde import Decoder, Encoder
    from ucwatch.streams.records import OutputSchemas, state_record

    child = Child()
    child.feed(event("ReleasedToSponsor", T0, state="NJ"))
    catalog = default_catalog()
    schema = OutputSchemas(catalog).state
    assert schema.version == 2
    value = Encoder(EmbeddedRegistry(catalog), "ucwatch.child-state").encode(schema, state_record(snapshot(child), T0))
    assert Decoder(EmbeddedRegistry(catalog), catalog).decode(value)["release_state"] == "NJ"


def test_a_snapshot_folded_on_from_the_previous_states_equals_one_folded_from_the_start() -> None:
    """The engine hands each new state the statuses folded so far (`StatusFold`) when an
    event is appended; late events, which land inside the history, start over. Every
    state of 60 simulated children, in their disordered arrival order, is checked."""
    from collections import defaultdict

    from bench.engine_bench import engine_events
    from ucwatch.streams.engine import Engine
    from ucwatch.streams.policy_parser import default_policy

    engine = Engine(default_policy())
    states: dict[str, ChildState | None] = defaultdict(lambda: None)
    inherited = 0
    for record in engine_events(60, 9):
        step = engine.on_event(states[record["child_id"]], record, record["recorded_at"])
        state = step.state
        inherited += state.status_fold() is not None
        assert state.snapshot() == ChildState.from_dict(state.to_dict()).snapshot()
        states[record["child_id"]] = state
    assert inherited > 100, "the fold was handed on"
