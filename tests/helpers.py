"""Test helpers: valid sample events of every type and reading a topic to its end."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.core.topic_reader import Record, read_to_end

ENVELOPE = {"occurred_at": "2021-03-01T12:00:00Z", "recorded_at": "2021-03-01T13:00:00.000Z",
            "source": "ORR", "synthetic": True}
FIELDS: dict[str, dict[str, Any]] = {
    "ChildEncountered": {"source": "CBP", "agency": "CBP", "state": "TX", "age_years": 16, "sex": "MALE",
                         "country_of_birth": "GT"},
    "HhsReferralNotified": {"source": "CBP", "referring_agency": "CBP"},
    "PlacementDesignated": {"facility_id": "SYN-FA-000000001", "placement_type": "SHELTER"},
    "CustodyTransferred": {"source": "ICE_ERO", "from_agency": "CBP", "facility_id": "SYN-FA-000000001"},
    "UnauthorizedDeparture": {"facility_id": "SYN-FA-000000001"},
    "ReleasedToSponsor": {"sponsor_id": "SYN-SP-000000001", "sponsor_category": 2, "state": "TX",
                          "county": "48201", "zip": "77002", "address_quality": "VALID"},
    "DischargeNotificationSent": {"recipient": "ICE"},
    "WellbeingCallAttempted": {"source": "ORR_PROVIDER", "attempt": 1, "outcome": "NO_ANSWER",
                               "safety_concern": False},
    "PostReleaseContact": {"source": "PRS", "contact_type": "HOME_VISIT", "reached": True},
    "WelfareConcernReported": {"concern_type": "NEGLECT", "severity": "HIGH"},
    "NtaIssued": {"source": "ICE", "nta_id": "SYN-NT-000000001"},
    "NtaServed": {"source": "ICE", "nta_id": "SYN-NT-000000001", "method": "MAIL"},
    "NtaFiled": {"source": "ICE_OPLA", "court_code": "SFR"},
    "HearingScheduled": {"source": "EOIR", "hearing_id": "SYN-HR-000000001",
                         "hearing_at": "2021-06-01T15:00:00Z", "hearing_type": "MASTER", "court_code": "SFR"},
    "HearingAttended": {"source": "EOIR", "hearing_id": "SYN-HR-000000001"},
    "FailureToAppear": {"source": "EOIR", "hearing_id": "SYN-HR-000000001"},
    "InAbsentiaOrder": {"source": "EOIR", "hearing_id": "SYN-HR-000000001"},
    "AddressChanged": {"source": "SPONSOR", "channel": "AR11", "state": "CA", "county": "06037",
                       "zip": "90012", "address_quality": "VALID"},
    "LocationVerified": {"source": "ICE", "verifying_agency": "ICE", "method": "HOME_VISIT"},
    "CaseClosed": {"source": "EOIR", "outcome": "RELIEF_GRANTED"},
}


def sample_event(event_type: str, /, child: int = 1, **overrides: Any) -> dict[str, Any]:
    event = {"event_id": str(uuid.uuid4()), "event_type": event_type,
             "child_id": f"SYN-CH-{child:09d}", **ENVELOPE, **FIELDS[event_type]}
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


_DROP = _Drop()
DROP: Any = _DROP
"""Pass as an override to leave a field out: sample_event("NtaServed", method=DROP)."""


def read_topic(source: str | Settings, topic: str, timeout_s: float = 30.0) -> list[Record]:
    """Every record of `topic` as it is now, sorted by partition and offset; `source` is a
    PLAINTEXT broker's bootstrap, or settings (with their security settings)."""
    client = client_config(source) if isinstance(source, Settings) else {"bootstrap.servers": source}
    return sorted(read_to_end(client, topic, timeout_s), key=lambda r: (r.partition, r.offset))


_TIMESTAMP_FIELDS = ("occurred_at", "recorded_at", "hearing_at", "next_hearing_at")


def simulated_record(event: dict[str, Any]) -> dict[str, Any]:
    """A simulator event (JSON Lines form) as fastavro decodes it: aware datetimes, dates."""
    from datetime import date, datetime

    record = dict(event)
    for name in _TIMESTAMP_FIELDS:
        value = record.get(name)
        if isinstance(value, str):
            record[name] = datetime.fromisoformat(value)
    if isinstance(record.get("birth_date"), str):
        record["birth_date"] = date.fromisoformat(record["birth_date"])
    return record


def insert_simulated_events(client: Any, database: str, events: Any, batch: int = 50_000) -> int:
    """Lands simulator events in `database`.events as the sink would (partition 0, offsets
    counting from 0); returns how many rows were inserted."""
    from ucwatch.sinks.rows import EVENTS

    rows: list[list[Any]] = []
    offset = 0
    for event in events:
        rows.append([*EVENTS.to_row(simulated_record(event)), 0, offset])
        offset += 1
        if len(rows) >= batch:
            client.insert(f"{database}.{EVENTS.table}", rows, column_names=list(EVENTS.columns))
            rows = []
    if rows:
        client.insert(f"{database}.{EVENTS.table}", rows, column_names=list(EVENTS.columns))
    return offset


def truth_from_events(events: Any, as_of: Any) -> Any:
    """The simulator's GroundTruth recomputed from emitted events, as an observer of the
    stream can: events recorded before `as_of` (aware datetime), each event_id once, each
    child's in occurred_at order (ties by event_id), in the fiscal year of its first
    ChildEncountered; children without one are left out."""
    from collections import defaultdict
    from datetime import datetime

    from ucwatch.simulate.clock import fiscal_year, to_ms
    from ucwatch.simulate.events import EVENT_TYPES, FIELDS, SOURCES
    from ucwatch.simulate.truth import GroundTruth

    types = {name: code for code, name in enumerate(EVENT_TYPES)}
    sources = {name: code for code, name in enumerate(SOURCES)}
    cutoff = to_ms(as_of)
    seen: set[str] = set()
    histories: dict[str, list[tuple]] = defaultdict(list)
    for event in events:
        if to_ms(datetime.fromisoformat(event["recorded_at"])) >= cutoff or event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        kind = types[event["event_type"]]
        histories[event["child_id"]].append(
            (to_ms(datetime.fromisoformat(event["occurred_at"])), kind, sources[event["source"]],
             event["event_id"], tuple(event[name] for name in FIELDS[kind])))
    truth = GroundTruth(cutoff)
    for history in histories.values():
        history.sort(key=lambda e: (e[0], e[3]))
        first = next((e for e in history if e[1] == types["ChildEncountered"]), None)
        if first is not None:
            at = datetime.fromtimestamp(first[0] / 1000, UTC)
            truth.observe(fiscal_year(at.year, at.month), history)
    return truth
