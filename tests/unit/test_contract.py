"""The event contract: every kind of bad input is refused with its own reason code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.helpers import DROP, FIELDS, sample_event
from ucwatch.core.errors import ContractError, UnknownEventType
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import ContractRules, EventContract, to_json_ready

NOW = datetime(2024, 6, 1, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def contract() -> EventContract:
    return EventContract(default_catalog(), ContractRules(), clock=lambda: NOW)


def test_every_domain_event_type_has_a_schema(contract: EventContract) -> None:
    assert contract.event_types == sorted(FIELDS)


@pytest.mark.parametrize("event_type", sorted(FIELDS))
def test_a_valid_event_of_every_type_normalizes(contract: EventContract, event_type: str) -> None:
    schema, record = contract.normalize(sample_event(event_type))
    assert schema.name == event_type
    assert record["occurred_at"] == 1614600000000
    assert record["child_id"] == "SYN-CH-000000001"


def test_round_trip_to_json_keeps_values(contract: EventContract) -> None:
    event = sample_event("HearingScheduled")
    schema, record = contract.normalize(event)
    back = to_json_ready(record, schema)
    assert back["hearing_at"] == "2021-06-01T15:00:00.000Z"
    assert contract.normalize(back)[1] == record


def test_csv_text_values_are_coerced(contract: EventContract) -> None:
    event = sample_event("WellbeingCallAttempted", attempt="2", safety_concern="false",
                         lives_with_sponsor="true", synthetic="true")
    _, record = contract.normalize(event, from_text=True)
    assert (record["attempt"], record["safety_concern"], record["lives_with_sponsor"]) == (2, False, True)


BAD = [
    ("unknown event type", {"event_type": "ChildTeleported"}, "unknown_event_type"),
    ("missing event type", {"event_type": DROP}, "missing_field"),
    ("missing required field", {"outcome": DROP}, "missing_field"),
    ("null required field", {"attempt": None}, "missing_field"),
    ("mistyped number", {"attempt": "two"}, "wrong_type"),
    ("boolean as number", {"attempt": True}, "wrong_type"),
    ("out of range", {"attempt": 0}, "out_of_range"),
    ("bad enum", {"outcome": "MAYBE"}, "bad_enum"),
    ("unparsable timestamp", {"occurred_at": "yesterday"}, "bad_timestamp"),
    ("timestamp without zone", {"occurred_at": "2021-03-01T12:00:00"}, "timestamp_without_timezone"),
    ("far future", {"occurred_at": "2031-03-01T12:00:00Z", "recorded_at": "2031-03-01T12:00:00Z"},
     "future_timestamp"),
    ("before 2000", {"occurred_at": "1990-03-01T12:00:00Z"}, "implausible_timestamp"),
    ("recorded before it happened", {"recorded_at": "2021-02-01T12:00:00Z"}, "recorded_before_occurred"),
    ("bad uuid", {"event_id": "not-a-uuid"}, "bad_uuid"),
    ("field outside the contract", {"child_name": "Maria"}, "unknown_field"),
    ("raw A-number as child id", {"child_id": "A-012-345-678"}, "raw_identifier"),
    ("malformed token", {"child_id": "child 42"}, "bad_identifier"),
    ("token of another kind", {"child_id": "SYN-SP-000000001"}, "bad_identifier"),
    ("real id on synthetic event", {"child_id": "CH-ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, "synthetic_mismatch"),
    ("not an object", None, "not_an_object"),
]


@pytest.mark.parametrize("label,overrides,code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_its_reason(contract: EventContract, label: str, overrides: dict | None,
                                              code: str) -> None:
    event = [1, 2] if overrides is None else sample_event("WellbeingCallAttempted", **overrides)
    with pytest.raises(ContractError) as caught:
        contract.normalize(event)
    assert caught.value.code == code, caught.value.message


def test_unknown_event_type_is_its_own_error(contract: EventContract) -> None:
    with pytest.raises(UnknownEventType):
        contract.normalize(sample_event("CaseClosed", event_type="CaseReopened"))


def test_free_text_in_a_coded_field_is_refused(contract: EventContract) -> None:
    with pytest.raises(ContractError) as caught:
        contract.normalize(sample_event("WelfareConcernReported", concern_type="lives at 12 Elm Street"))
    assert caught.value.code == "bad_code"


def test_address_rules(contract: EventContract) -> None:
    with pytest.raises(ContractError) as caught:
        contract.normalize(sample_event("ReleasedToSponsor", zip=None))
    assert caught.value.code == "incomplete_address"
    blank = sample_event("ReleasedToSponsor", state=None, county=None, zip=None, address_quality="BLANK")
    assert contract.normalize(blank)[1]["address_quality"] == "BLANK"
    with pytest.raises(ContractError) as caught:
        contract.normalize(sample_event("ReleasedToSponsor", state="XX"))
    assert caught.value.code == "bad_code"


def test_real_events_refuse_synthetic_ids(contract: EventContract) -> None:
    with pytest.raises(ContractError) as caught:
        contract.normalize(sample_event("CaseClosed", synthetic=False))
    assert caught.value.code == "synthetic_mismatch"
    real = sample_event("CaseClosed", synthetic=False, child_id="CH-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert contract.normalize(real)[1]["synthetic"] is False


def test_encounter_needs_an_age(contract: EventContract) -> None:
    with pytest.raises(ContractError) as caught:
        contract.normalize(sample_event("ChildEncountered", age_years=DROP))
    assert caught.value.code == "missing_field"
    dated = sample_event("ChildEncountered", age_years=DROP, birth_date="2005-04-01")
    assert contract.normalize(dated)[1]["birth_date"].year == 2005
