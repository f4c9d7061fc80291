"""Which agency may state which facts: the ingestion topics and the check of an event
against the topic it arrived on.

Each upstream agency writes only to its own ingestion topic, ``ucwatch.ingest.<agency>``;
the brokers' ACLs (`ucwatch.core.kafka_acls`) let its principal write there and nowhere
else. So the topic, not the event's own word, says who published it, and `refusal` checks
the event's claims against that: its ``source`` must be one of the agency's systems, and
its ``event_type`` one the agency states (the "from" column of the event vocabulary). An
event that fails either is refused with a dead-letter reason, never processed.

Pure: strings in, a `Refusal` or None out. The detection worker applies it to every record
it reads from an ingestion topic (`refusal_for`, streams/app.py) and dead-letters a refused
one as `ProvenanceRefused`; docs/security.md has the design.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ucwatch.core.errors import ContractError
from ucwatch.core.settings import Settings, TopicSettings

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


class ProvenanceRefused(ContractError):
    """An event its topic's agency may not publish: dead-lettered (stage ``provenance``),
    never applied."""

    def __init__(self, refused: Refusal, event_type: str | None) -> None:
        super().__init__(refused.reason_code, refused.reason, event_type=event_type)


LIFECYCLE_NAMESPACE = "gov.ucwatch.lifecycle."
SOURCE_WATERMARK = "gov.ucwatch.control.SourceWatermark"


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


def refusal_for(topic: str, record_name: str, source: object) -> Refusal | None:
    """`refusal` for a decoded record: `record_name` is its full Avro name. On an ingestion
    topic an agency publishes lifecycle events and its own feed's watermarks (a
    SourceWatermark for one of its source codes: it may not declare another agency's feed
    complete); anything else (a clock tick, an alert) is refused."""
    if not topic.startswith(INGEST_PREFIX):
        return None
    if record_name == SOURCE_WATERMARK:
        agency = agency_of(topic)
        if agency is None:
            return Refusal("unknown_ingest_topic", f"{topic} is not the ingestion topic of a known agency")
        if str(source) not in AGENCY_SOURCES[agency]:
            return Refusal("source_not_publisher",
                           f"a watermark of source {source} on {topic}: {agency.upper()} may declare only its own "
                           f"feed ({', '.join(sorted(AGENCY_SOURCES[agency]))}) complete")
        return None
    if not record_name.startswith(LIFECYCLE_NAMESPACE):
        return Refusal("type_not_admitted", f"a {record_name} record on {topic}: an agency publishes "
                                            "lifecycle events and its own watermarks only")
    return refusal(topic, record_name[len(LIFECYCLE_NAMESPACE):], str(source))


def ingest_topics(settings: Settings) -> list[TopicSettings]:
    """The agencies' ingestion topics, co-partitioned with the lifecycle topic (same count,
    same key, same partitioner): a child's events from every agency land on the same
    partition number, which one worker owns."""
    lifecycle = settings.topics.lifecycle
    return [dataclasses.replace(lifecycle, name=ingest_topic(agency)) for agency in AGENCIES]
