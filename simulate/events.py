"""The event vocabulary as the simulator stores it: small integers instead of names.

A history is a list of plain tuples ``(occurred_ms, type, source, event_id, fields)``,
`fields` holding the type's own values in the order of FIELDS (the order of its .avsc):
small integers for the type and source keep it cheap to make and to count. The feed
turns each into the row of values of the emitted object, in the order of KEYS. The names
here are checked against schemas/avro/lifecycle by the unit tests.
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "ChildEncountered", "HhsReferralNotified", "PlacementDesignated", "CustodyTransferred",
    "UnauthorizedDeparture", "ReleasedToSponsor", "DischargeNotificationSent",
    "WellbeingCallAttempted", "PostReleaseContact", "WelfareConcernReported", "NtaIssued",
    "NtaServed", "NtaFiled", "HearingScheduled", "HearingAttended", "FailureToAppear",
    "InAbsentiaOrder", "AddressChanged", "LocationVerified", "CaseClosed",
)

(CHILD_ENCOUNTERED, HHS_REFERRAL_NOTIFIED, PLACEMENT_DESIGNATED, CUSTODY_TRANSFERRED,
 UNAUTHORIZED_DEPARTURE, RELEASED_TO_SPONSOR, DISCHARGE_NOTIFICATION_SENT,
 WELLBEING_CALL_ATTEMPTED, POST_RELEASE_CONTACT, WELFARE_CONCERN_REPORTED, NTA_ISSUED,
 NTA_SERVED, NTA_FILED, HEARING_SCHEDULED, HEARING_ATTENDED, FAILURE_TO_APPEAR,
 IN_ABSENTIA_ORDER, ADDRESS_CHANGED, LOCATION_VERIFIED, CASE_CLOSED) = range(len(EVENT_TYPES))

ENVELOPE: tuple[str, ...] = ("event_id", "event_type", "child_id", "occurred_at", "recorded_at",
                             "source", "synthetic")

FIELDS: tuple[tuple[str, ...], ...] = (
    ("agency", "state", "birth_date", "age_years", "sex", "country_of_birth"),
    ("referring_agency",),
    ("facility_id", "placement_type"),
    ("from_agency", "facility_id"),
    ("facility_id",),
    ("sponsor_id", "sponsor_category", "state", "county", "zip", "address_quality"),
    ("recipient",),
    ("attempt", "outcome", "lives_with_sponsor", "address_confirmed", "safety_concern"),
    ("contact_type", "reached"),
    ("concern_type", "severity"),
    ("nta_id",),
    ("nta_id", "method"),
    ("court_code",),
    ("hearing_id", "hearing_at", "hearing_type", "court_code"),
    ("hearing_id", "next_hearing_at"),
    ("hearing_id",),
    ("hearing_id",),
    ("channel", "state", "county", "zip", "address_quality"),
    ("verifying_agency", "method"),
    ("outcome",),
)

# The keys of an emitted JSON object, by event type: envelope then the type's fields.
KEYS: dict[str, tuple[str, ...]] = {name: ENVELOPE + fields for name, fields in zip(EVENT_TYPES, FIELDS, strict=True)}

# The AgencyCode enum, in schema order.
SOURCES: tuple[str, ...] = ("CBP", "ICE", "ICE_ERO", "ICE_OPLA", "ORR", "ORR_PROVIDER", "PRS",
                            "EOIR", "USCIS", "SPONSOR", "CHILD", "UCWATCH", "OTHER")
(CBP, ICE, ICE_ERO, ICE_OPLA, ORR, ORR_PROVIDER, PRS, EOIR, USCIS, SPONSOR, CHILD, UCWATCH,
 OTHER) = range(len(SOURCES))
SOURCE_CODE = {name: code for code, name in enumerate(SOURCES)}

REACHED_OUTCOMES = frozenset({"REACHED_CHILD", "REACHED_SPONSOR_ONLY"})
