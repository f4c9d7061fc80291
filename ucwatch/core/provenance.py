"""Which agency may state which facts: the ingestion topics and the check of an event
against the topic it arrived on.

Each upstream agency writes only to its own ingestion topic, ``ucwatch.ingest.<agency>``;
the brokers' ACLs (`ucwatch.core.kafka_acls`) let its principal write there and nowhere
else. So the topic, not the event's own word, says who published it, and `refusal` checks
the event's claims against that: its ``source`` must be one of the agency's systems, and
its ``event_type`` one the agency states (the "from" column of the event vocabulary). An
event that fails either is refused with a dead-letter reason, never processed.

Pure: strings in, a `Refusal` or None out. docs/security.md says where it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

INGEST_PREFIX = "ucwatch.ingest."

AGENCY_SOURCES: dict[str, frozenset[str]] = {
    "cbp": frozenset({"CBP"}),
    "ice": frozenset({"ICE", "ICE_ERO", "ICE_OPLA"}),
    "orr": frozenset({"ORR", "ORR_PROVIDER"}),
    "prs": frozenset({"PRS"}),
    "eoir": frozenset({"EOIR"}),
}
"""The `source` codes (schema enum AgencyCode) each agency's principal may publish under."""

AGENCIES = tuple(AGENCY_SOURCES)

_ANY = frozenset(AGENCIES)
EVENT_AGENCIES: dict[str, frozenset[str]] = {
    "ChildEncountered": frozenset({"cbp", "ice"}),
    "HhsReferralNotified": frozenset({"cbp", "ice"}),
    "PlacementDesignated": frozenset({"orr"}),
    "CustodyTransferred": frozenset({"ice"}),
    "UnauthorizedDeparture": frozenset({"orr"}),
    "ReleasedToSponsor": frozenset({"orr"}),
    "DischargeNotificationSent": frozenset({"orr"}),
    "WellbeingCallAttempted": frozenset({"orr"}),
    "PostReleaseContact": frozenset({"prs"}),
    "WelfareConcernReported": _ANY,
    "NtaIssued": frozenset({"cbp", "ice"}),
    "NtaServed": frozenset({"ice"}),
    "NtaFiled": frozenset({"ice"}),
    "HearingScheduled": frozenset({"eoir"}),
    "HearingAttended": frozenset({"eoir"}),
    "FailureToAppear": frozenset({"eoir"}),
    "InAbsentiaOrder": frozenset({"eoir"}),
    "AddressChanged": frozenset({"eoir", "orr"}),
    "LocationVerified": frozenset({"ice", "orr", "prs"}),
    "CaseClosed": frozenset({"eoir", "ice", "orr"}),
}
"""Which agencies state each lifecycle event type (docs: the event vocabulary's "from")."""


@dataclass(frozen=True)
class Refusal:
    """Why an event may not be taken from the topic it came on (a dead letter's reason)."""

    reason_code: str
    reason: str


def ingest_topic(agency: str) -> str:
    if agency not in AGENCY_SOURCES:
        raise ValueError(f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}")
    return INGEST_PREFIX + agency


def agency_of(topic: str) -> str | None:
    """The agency whose ingestion topic this is; None for any other topic."""
    if not topic.startswith(INGEST_PREFIX):
        return None
    agency = topic[len(INGEST_PREFIX):]
    return agency if agency in AGENCY_SOURCES else None


def refusal(topic: str, event_type: str, source: str) -> Refusal | None:
    """None when the agency of `topic` may publish this event; else why not.

    A topic that is not an ingestion topic (``ucwatch.lifecycle``: ucwatch's own ticks, or
    events admitted earlier) is not judged here: its writers are limited by the ACLs alone.
    """
    agency = agency_of(topic)
    if agency is None:
        if topic.startswith(INGEST_PREFIX):
            return Refusal("unknown_ingest_topic", f"{topic} is not the ingestion topic of a known agency")
        return None
    if source not in AGENCY_SOURCES[agency]:
        return Refusal("source_not_publisher",
                       f"source {source} on {topic}: {agency.upper()} may publish only as "
                       f"{', '.join(sorted(AGENCY_SOURCES[agency]))}")
    allowed = EVENT_AGENCIES.get(event_type)
    if allowed is None:
        return Refusal("type_not_admitted", f"{event_type} is not a lifecycle event an agency publishes")
    if agency not in allowed:
        return Refusal("type_not_publisher",
                       f"{event_type} on {topic}: {agency.upper()} does not state it "
                       f"(stated by {', '.join(sorted(a.upper() for a in allowed))})")
    return None
