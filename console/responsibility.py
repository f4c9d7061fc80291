"""Which agency must act on an alert, by its rule: the one place the console decides it.

Read from the default policy's table in /work/shared/domain.md ("Expected follow-ups"): an
alert is overdue because some agency has not done the follow-up whose event would meet
it, so the agency responsible is the one that emits that event ("Who emits what"). Where
the system notifies two agencies of the same fact (a child not with the sponsor, or whose
whereabouts are unknown), both must act: the first one named leads.

| rule | met by | agencies | why |
|---|---|---|---|
| HHS_REFERRAL_OVERDUE | HhsReferralNotified | CBP/ICE | the encountering agency refers (8 USC 1232(b)(2)) |
| TRANSFER_OVERDUE | CustodyTransferred | ICE | ICE ERO transfers DHS custody to HHS (1232(b)(3)) |
| DEPARTURE_UNRESOLVED | LocationVerified | HHS, ICE | the child left ORR care; ICE is notified (OIG-25-21) |
| DISCHARGE_NOTICE_OVERDUE | DischargeNotificationSent | HHS | ORR sends the release notice to ICE |
| BAD_RELEASE_ADDRESS | AddressChanged, LocationVerified | HHS, ICE | ORR released there; ICE serves the NTA there |
| WELLBEING_CALL_OVERDUE | WellbeingCallAttempted | HHS | ORR's care provider makes the 30-day call |
| LOST_CONTACT | a reached call or contact | HHS | ORR and its post-release providers |
| NOT_WITH_SPONSOR | LocationVerified | HHS, ICE | both are notified (domain.md) |
| NTA_NOT_SERVED | NtaServed | ICE | ICE serves the NTA |
| NTA_NOT_FILED | NtaFiled | ICE | ICE OPLA files it with the court |
| HEARING_NOT_SCHEDULED | HearingScheduled | EOIR | the court schedules |
| HEARING_OUTCOME_MISSING | HearingAttended, FailureToAppear | EOIR | the court records the outcome |
| WHEREABOUTS_UNKNOWN | LocationVerified, a contact | ICE, HHS | after an FTA; both are notified (OIG-24-46) |
| STALE_CASE | any later event | OPS | no single agency: operations review the case |
| NOTICE_UNDELIVERED | (the notifier's alert) | OPS | ucwatch's own staff fix the delivery |
| CLOCK_STALLED | (a worker's alert: a partition's clock stopped) | OPS | ucwatch's own staff restart the ticker |
| FEED_STALLED | (a worker's alert: a source's feed stopped) | OPS | ucwatch's own staff call the source |

A rule not in the table (a policy file may add rules) has no agency: it shows as
``unknown`` and the ``unknown`` filter finds it, so nothing falls out of the queue.
"""

from __future__ import annotations

from typing import Final

AGENCIES: Final = ("CBP/ICE", "ICE", "HHS", "EOIR", "OPS")
"""The filter's choices, in the order a child meets them."""
UNKNOWN: Final = "unknown"
AGENCY_NAMES: Final = {
    "CBP/ICE": "the encountering DHS agency (CBP or ICE)",
    "ICE": "ICE (ERO, OPLA)",
    "HHS": "HHS (ORR and its providers)",
    "EOIR": "EOIR (immigration courts)",
    "OPS": "operations staff (no single agency)",
    UNKNOWN: "not mapped (a rule outside the default policy)",
}

RESPONSIBLE: Final[dict[str, tuple[str, ...]]] = {
    "HHS_REFERRAL_OVERDUE": ("CBP/ICE",),
    "TRANSFER_OVERDUE": ("ICE",),
    "DEPARTURE_UNRESOLVED": ("HHS", "ICE"),
    "DISCHARGE_NOTICE_OVERDUE": ("HHS",),
    "BAD_RELEASE_ADDRESS": ("HHS", "ICE"),
    "WELLBEING_CALL_OVERDUE": ("HHS",),
    "LOST_CONTACT": ("HHS",),
    "NOT_WITH_SPONSOR": ("HHS", "ICE"),
    "NTA_NOT_SERVED": ("ICE",),
    "NTA_NOT_FILED": ("ICE",),
    "HEARING_NOT_SCHEDULED": ("EOIR",),
    "HEARING_OUTCOME_MISSING": ("EOIR",),
    "WHEREABOUTS_UNKNOWN": ("ICE", "HHS"),
    "STALE_CASE": ("OPS",),
    "NOTICE_UNDELIVERED": ("OPS",),
    "CLOCK_STALLED": ("OPS",),
    "FEED_STALLED": ("OPS",),
}


def agencies_for(rule: str) -> tuple[str, ...]:
    """The agencies that must act on an alert of `rule`, the lead first; (`UNKNOWN`,) if unmapped."""
    return RESPONSIBLE.get(rule, (UNKNOWN,))


def responsible(rule: str, agency: str) -> bool:
    """Whether `agency` must act on alerts of `rule` (the queue's agency filter)."""
    return agency in agencies_for(rule)
