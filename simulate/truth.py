"""What really happened in a simulated run, counted by fiscal year of encounter.

The truth is read off each child's events as they occurred (before the feed delays,
reorders or duplicates them), up to as_of, so it is what a perfect observer would count.
A detector fed the simulated stream should find the same facts; the only gap is events
that occurred before as_of but would be recorded after it, which the feed never delivers.

The delivered truth (`Simulation.delivered_truth`) closes that gap: the same counts, read
off only the events the feed delivered (recorded before as_of), still in the order they
occurred. It is what any observer of the feed can count by as_of, and what the ClickHouse
oversight views (sinks/migrations/V003__oversight.sql) must reproduce exactly. A child whose
ChildEncountered was not delivered has no fiscal year on record and is not counted at all;
a discharge notice or a call whose release was not delivered counts as an event but not
as late or within the 37 days.

Definitions (events in the order they occurred; a child counts once, with the demographics
of its first encounter, from which the referral and transfer times run; the discharge
notice and the 30-day call are timed from the latest release before them):
- unreachable 30-day call: a released child whose day-37 mark is before as_of, with at
  least one call attempt by day 37 and none reaching the child or sponsor by then;
- lost contact: three call attempts in a row without contact since release or since the
  last contact (reached call, reached post-release contact, location verified);
- whereabouts unknown: a child whose last FailureToAppear was followed by no contact;
- NTA not served: a released child without NtaServed by as_of.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ucwatch.simulate.clock import DAY, HOUR
from ucwatch.simulate.events import (
    CASE_CLOSED,
    CHILD_ENCOUNTERED,
    CUSTODY_TRANSFERRED,
    DISCHARGE_NOTIFICATION_SENT,
    FAILURE_TO_APPEAR,
    HHS_REFERRAL_NOTIFIED,
    IN_ABSENTIA_ORDER,
    LOCATION_VERIFIED,
    NTA_SERVED,
    POST_RELEASE_CONTACT,
    REACHED_OUTCOMES,
    RELEASED_TO_SPONSOR,
    UNAUTHORIZED_DEPARTURE,
    WELLBEING_CALL_ATTEMPTED,
)
from ucwatch.simulate.lifecycle import Event

_AGE_BRACKETS = ((5, "0-5"), (12, "6-12"), (14, "13-14"), (16, "15-16"), (99, "17"))
_NO_CONTACT = frozenset({"NO_ANSWER", "WRONG_NUMBER", "REFUSED"})


@dataclass
class CohortTruth:
    encounters: int = 0
    referrals_late: int = 0               # HHS notified more than 48 h after the encounter
    transfers: int = 0
    transfers_over_72h: int = 0
    dhs_custody_ms: int = 0               # summed over transfers (integer: exact in any order)
    releases: int = 0
    bad_release_addresses: int = 0
    discharge_notices_late: int = 0       # more than 24 h after release
    discharge_notices_missing: int = 0
    unauthorized_departures: int = 0
    wellbeing_due: int = 0                # released, day 37 before as_of
    wellbeing_reached: int = 0
    wellbeing_unreachable: int = 0
    wellbeing_not_attempted: int = 0      # no attempt by day 37
    lost_contact: int = 0
    not_with_sponsor: int = 0             # a call said not with sponsor or raised safety
    nta_served: int = 0                   # children served, released or not
    nta_not_served: int = 0               # released children not served
    ftas: int = 0                         # FailureToAppear events
    children_with_fta: int = 0
    whereabouts_unknown: int = 0
    in_absentia_orders: int = 0
    case_outcomes: Counter[str] = field(default_factory=Counter)
    release_states: Counter[str] = field(default_factory=Counter)
    age_brackets: Counter[str] = field(default_factory=Counter)
    sexes: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)

    # -- shares the calibration figures are stated in ---------------------------------------
    @property
    def share_over_72h(self) -> float:
        return _ratio(self.transfers_over_72h, self.transfers)

    @property
    def mean_dhs_custody_hours(self) -> float:
        return _ratio(self.dhs_custody_ms / HOUR, self.transfers)

    @property
    def bad_address_share(self) -> float:
        return _ratio(self.bad_release_addresses, self.releases)

    @property
    def unreachable_share(self) -> float:
        return _ratio(self.wellbeing_unreachable, self.wellbeing_due)

    @property
    def nta_not_served_share(self) -> float:
        return _ratio(self.nta_not_served, self.releases)

    @property
    def fta_share_of_served(self) -> float:
        return _ratio(self.children_with_fta, self.nta_served)

    def merge(self, other: CohortTruth) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, Any]:
        counts = {f.name: (dict(sorted(v.items())) if isinstance(v := getattr(self, f.name), Counter) else v)
                  for f in dataclasses.fields(self)}
        counts["shares"] = {name: round(getattr(self, name), 4) for name in (
            "share_over_72h", "mean_dhs_custody_hours", "bad_address_share", "unreachable_share",
            "nta_not_served_share", "fta_share_of_served")}
        return counts


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


class GroundTruth:
    """Counts by fiscal year of encounter; `total()` over all years."""

    def __init__(self, as_of_ms: int) -> None:
        self.as_of_ms = as_of_ms
        self.by_fy: dict[int, CohortTruth] = {}

    def total(self) -> CohortTruth:
        total = CohortTruth()
        for cohort in self.by_fy.values():
            total.merge(cohort)
        return total

    def merge(self, other: GroundTruth) -> None:
        for fy, cohort in other.by_fy.items():
            self.by_fy.setdefault(fy, CohortTruth()).merge(cohort)

    def as_dict(self) -> dict[str, Any]:
        return {"by_fy": {fy: c.as_dict() for fy, c in sorted(self.by_fy.items())},
                "total": self.total().as_dict()}

    def observe(self, fy: int, events: list[Event]) -> None:  # noqa: PLR0912, PLR0915 - one pass, hot path
        """Counts one child's events, in the order they occurred, in the cohort `fy`.

        Without a ChildEncountered among them the child is not counted (no FY on record).
        """
        first = events[0] if events else None
        if first is None or first[1] != CHILD_ENCOUNTERED:
            first = next((e for e in events if e[1] == CHILD_ENCOUNTERED), None)
            if first is None:
                return
        encountered, fields = first[0], first[4]
        c = self.by_fy.get(fy)
        if c is None:
            c = self.by_fy[fy] = CohortTruth()
        c.encounters += 1  # once per child, as at its first encounter
        age = fields[3]
        c.age_brackets[next(label for top, label in _AGE_BRACKETS if age <= top)] += 1
        c.sexes[fields[4]] += 1
        c.countries[fields[5]] += 1
        released = None
        discharged = served = False
        attempted_by_37 = reached_by_37 = lost = not_with_sponsor = False
        failed_in_a_row = 0
        fta_open = had_fta = False
        for occurred, etype, _, _, fields in events:
            if etype == HHS_REFERRAL_NOTIFIED:
                if occurred - encountered > 48 * HOUR:
                    c.referrals_late += 1
            elif etype == CUSTODY_TRANSFERRED:
                c.transfers += 1
                c.dhs_custody_ms += occurred - encountered
                c.transfers_over_72h += occurred - encountered > 72 * HOUR
            elif etype == RELEASED_TO_SPONSOR:
                released = occurred
                c.releases += 1
                c.bad_release_addresses += fields[5] != "VALID"
                c.release_states[fields[2] or "BLANK"] += 1
            elif etype == DISCHARGE_NOTIFICATION_SENT:
                discharged = True
                c.discharge_notices_late += released is not None and occurred - released > 24 * HOUR
            elif etype == UNAUTHORIZED_DEPARTURE:
                c.unauthorized_departures += 1
            elif etype == WELLBEING_CALL_ATTEMPTED:
                outcome = fields[1]
                by_37 = released is not None and occurred <= released + 37 * DAY
                attempted_by_37 |= by_37
                if outcome in REACHED_OUTCOMES:
                    reached_by_37 |= by_37
                    failed_in_a_row = 0
                    fta_open = False
                elif outcome in _NO_CONTACT:
                    failed_in_a_row += 1
                    lost |= failed_in_a_row >= 3
                not_with_sponsor |= fields[2] is False or fields[4]
            elif etype == POST_RELEASE_CONTACT:
                if fields[1]:
                    failed_in_a_row = 0
                    fta_open = False
            elif etype == LOCATION_VERIFIED:
                failed_in_a_row = 0
                fta_open = False
            elif etype == NTA_SERVED:
                served = True
            elif etype == FAILURE_TO_APPEAR:
                c.ftas += 1
                had_fta = fta_open = True
            elif etype == IN_ABSENTIA_ORDER:
                c.in_absentia_orders += 1
            elif etype == CASE_CLOSED:
                c.case_outcomes[fields[0]] += 1
        if released is not None:
            if not discharged:
                c.discharge_notices_missing += 1
            if released + 37 * DAY < self.as_of_ms:
                c.wellbeing_due += 1
                if reached_by_37:
                    c.wellbeing_reached += 1
                elif attempted_by_37:
                    c.wellbeing_unreachable += 1
                else:
                    c.wellbeing_not_attempted += 1
            c.nta_not_served += not served
        c.nta_served += served
        c.lost_contact += lost
        c.not_with_sponsor += not_with_sponsor
        c.children_with_fta += had_fta
        c.whereabouts_unknown += fta_open
