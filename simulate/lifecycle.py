"""One child's history, from the encounter at the border to the close of the court case.

`Lifecycle.child` returns the events that happen to one child, in the order they occur,
as the compact tuples of events.py. Every choice is drawn from the child's own random
stream (seeded by the caller from the run's seed and the child's serial), and identifiers
derive from the serial, so a child's history depends on nothing generated before it:
children can be made in any order, in several processes, with the same result. Sponsors
shared between children are regenerated from their own seeded stream. Nothing at or after
the horizon (the run's as_of) is generated: the world stops there.

The path: encountered (CBP, rarely ICE) -> HHS notified -> ORR designates a placement ->
ICE transfers custody -> ORR care (step-down, unauthorized departure, aging out,
repatriation) -> release to a sponsor -> discharge notice, 30-day call, post-release
services, moves -> NTA issued, served, filed -> hearings (rescheduled, attended or missed)
-> in absentia order or another closure. A case closure ends the history.
"""

from __future__ import annotations

import math
import random
from operator import itemgetter
from typing import Any

from ucwatch.core.pseudonym import IdKind, synthetic_token
from ucwatch.simulate import calibration as cal
from ucwatch.simulate.clock import DAY, HOUR, MINUTE, YEAR, iso
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.events import (
    ADDRESS_CHANGED,
    CASE_CLOSED,
    CBP,
    CHILD_ENCOUNTERED,
    CUSTODY_TRANSFERRED,
    DISCHARGE_NOTIFICATION_SENT,
    EOIR,
    FAILURE_TO_APPEAR,
    HEARING_ATTENDED,
    HEARING_SCHEDULED,
    HHS_REFERRAL_NOTIFIED,
    ICE,
    ICE_ERO,
    ICE_OPLA,
    IN_ABSENTIA_ORDER,
    LOCATION_VERIFIED,
    NTA_FILED,
    NTA_ISSUED,
    NTA_SERVED,
    ORR,
    ORR_PROVIDER,
    PLACEMENT_DESIGNATED,
    POST_RELEASE_CONTACT,
    PRS,
    RELEASED_TO_SPONSOR,
    SOURCE_CODE,
    SPONSOR,
    UNAUTHORIZED_DEPARTURE,
    WELFARE_CONCERN_REPORTED,
    WELLBEING_CALL_ATTEMPTED,
)
from ucwatch.simulate.sampling import Weighted, lognormal

Event = tuple[int, int, int, str, tuple[Any, ...]]  # (occurred_ms, type, source, event_id, fields)
Address = tuple[str | None, str | None, str | None, str]  # (state, county, zip, address_quality)

_SPONSOR_REUSE_WINDOW = 4096     # a shared sponsor is one of the last children's
HEARINGS_PER_CHILD = 16          # hearing serials are child serial * 16 + n
_FIRST_SLOT = 13 * HOUR          # 08:00 US Eastern in winter
_SLOTS = 32                       # quarter hours of a court day
_ADDRESS_CHANNEL_SOURCE = {"EOIR33": EOIR, "AR11": SPONSOR, "ORR_CALL_CENTER": ORR,
                           "WELLBEING_CALL": ORR_PROVIDER}
_by_time = itemgetter(0)


def event_id_prefix(rng: random.Random) -> str:
    """The first 20 characters of a version-4 UUID: 74 random bits shared by a child's events.

    Each event adds 48 random bits (`f"{prefix}{rng.getrandbits(48):012x}"`): the text is a
    valid random UUID, made at a fraction of the cost of uuid.UUID(int=..., version=4).
    """
    bits = rng.getrandbits(74)
    return (f"{bits >> 42:08x}-{(bits >> 26) & 0xFFFF:04x}-4{(bits >> 14) & 0xFFF:03x}-"
            f"{8 | (bits >> 12) & 0x3:x}{bits & 0xFFF:03x}-")


def court_slot(ms: int) -> int:
    """The same or next weekday, at a quarter hour of the court day."""
    day = ms // DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    if weekday >= 5:
        day += 7 - weekday
    return day * DAY + _FIRST_SLOT + (ms // (15 * MINUTE)) % _SLOTS * 15 * MINUTE


class Lifecycle:
    def __init__(self, config: SimulationConfig, rng: random.Random, horizon_ms: int,
                 sponsor_seed: int) -> None:
        self._rng = rng
        self._sponsor_rng = random.Random()
        self._sponsor_seed = sponsor_seed
        self._rates = r = config.rates
        self._horizon = horizon_ms
        self._out: list[Event] = []
        self._serial = 0
        self._hearings = 0
        self._id_prefix = ""
        self._facilities = [synthetic_token(IdKind.FACILITY, i) for i in range(1, cal.FACILITIES + 1)]

        self._ages = Weighted(cal.AGE_BRACKETS)
        female = 1.0 - r.male_share - dict(cal.SEX)["UNKNOWN"]
        self._sexes = Weighted((("MALE", r.male_share), ("FEMALE", max(female, 0.0)),
                                ("UNKNOWN", dict(cal.SEX)["UNKNOWN"])))
        self._countries = Weighted(cal.COUNTRY_OF_BIRTH)
        self._border_states = Weighted(cal.CBP_ENCOUNTER_STATES)
        top = sum(count for _, count in cal.TOP_RELEASE_STATES)
        other_total = sum(w for _, w in cal.OTHER_RELEASE_STATES)
        other_scale = top / cal.TOP_RELEASE_SHARE * (1 - cal.TOP_RELEASE_SHARE) / other_total
        self._release_states = Weighted(
            list(cal.TOP_RELEASE_STATES) + [(s, w * other_scale) for s, w in cal.OTHER_RELEASE_STATES])
        self._counties = {
            state: (fips, Weighted([(county, 1.0 / (i + 1)) for i, county in enumerate(counties)]))
            for state, (fips, counties) in cal.GEOGRAPHY.items()}
        self._bad_addresses = Weighted(cal.BAD_ADDRESS_SPLIT)
        self._categories = Weighted(cal.SPONSOR_CATEGORIES)
        self._placements = Weighted(cal.PLACEMENT_TYPES)
        self._closures = Weighted(cal.HEARING_CLOSURE_OUTCOMES)
        self._call_failures = Weighted(cal.CALL_FAILURES)
        self._concerns = Weighted(cal.WELFARE_CONCERNS)
        self._unreachable_attempts = Weighted(((1, 0.15), (2, 0.20), (3, 0.45), (4, 0.15), (5, 0.05)))
        self._failed_before_reach = Weighted(((0, 0.65), (1, 0.25), (2, 0.10)))
        self._move_channels = Weighted((("EOIR33", 0.35), ("AR11", 0.15), ("ORR_CALL_CENTER", 0.50)))
        self._fix_channels = Weighted((("ORR_CALL_CENTER", 0.55), ("WELLBEING_CALL", 0.25),
                                       ("EOIR33", 0.10), ("AR11", 0.10)))
        self._served_at_processing = dict(r.nta_served_at_processing)
        # lognormal: mean = median * exp(sigma^2 / 2)
        self._surge_median = {month: mean / math.exp(cal.DHS_CUSTODY_SURGE_SIGMA ** 2 / 2)
                              for month, mean in r.dhs_custody_surge_mean_hours}

    # -- helpers -------------------------------------------------------------------------

    def _add(self, t: int, etype: int, source: int, fields: tuple[Any, ...]) -> None:
        if t < self._horizon:
            self._out.append((t, etype, source, f"{self._id_prefix}{self._rng.getrandbits(48):012x}",
                              fields))

    def _days(self, low: float, high: float) -> int:
        return int(self._rng.uniform(low, high) * DAY)

    def _address(self, state: str, quality: str = "VALID", rng: random.Random | None = None) -> Address:
        if quality == "BLANK":
            return (None, None, None, "BLANK")
        rng = rng or self._rng
        fips, counties = self._counties[state]
        county, zip3s = counties.draw(rng)
        zip3 = zip3s[0] if len(zip3s) == 1 else rng.choice(zip3s)
        return (state, fips + county, f"{zip3}{rng.randrange(100):02d}", quality)

    def _sponsor(self) -> tuple[str, Address]:
        """A new sponsor numbered like the child, or one of a recent child's, same address."""
        r = self._rates
        serial = self._serial
        if serial > 1 and self._rng.random() < r.sponsor_reuse_share:
            serial = max(1, serial - self._rng.randint(1, _SPONSOR_REUSE_WINDOW))
        srng = self._sponsor_rng
        srng.seed(self._sponsor_seed + serial)
        quality = "VALID" if srng.random() >= r.bad_address_share else self._bad_addresses.draw(srng)
        return (synthetic_token(IdKind.SPONSOR, serial),
                self._address(self._release_states.draw(srng), quality, srng))

    def _placement(self, month: tuple[int, int] | None, age: int) -> tuple[str, str]:
        """(placement type, facility); a step-down (month None) never goes to an intake site."""
        rng = self._rng
        first, last = cal.SURGE_PLACEMENT_PERIOD
        if month is not None and first <= month <= last and rng.random() < 0.3:
            return cal.SURGE_PLACEMENT, self._facilities[rng.randrange(cal.SURGE_FACILITIES)]
        kind = "TRANSITIONAL_FOSTER_CARE" if age <= 12 and rng.random() < 0.5 else self._placements.draw(rng)
        return kind, self._facilities[rng.randrange(cal.SURGE_FACILITIES, cal.FACILITIES)]

    # -- the history -----------------------------------------------------------------------

    def child(self, serial: int, t0: int, fy: int, month: tuple[int, int]) -> tuple[str, list[Event]]:
        rng, r = self._rng, self._rates
        out: list[Event] = []
        self._out = out
        self._serial = serial
        self._hearings = serial * HEARINGS_PER_CHILD
        self._id_prefix = event_id_prefix(rng)
        child_id = synthetic_token(IdKind.CHILD, serial)

        agency, source, state, age, referral = self._encounter(t0)
        transfer = t0 + self._dhs_custody_ms(month)
        nta_id, issued, served = self._nta_at_processing(t0, transfer, source, fy)
        if rng.random() < r.not_transferred_share:
            outcome = "REMOVED" if rng.random() < 0.6 else ("AGED_OUT" if rng.random() < 0.4 else "OTHER")
            self._add(transfer, CASE_CLOSED, ICE_ERO, (outcome,))
            return child_id, self._sorted()
        stay = self._orr_care(t0, referral, transfer, agency, month=month, age=age)
        if stay is None:
            return child_id, self._sorted()
        leaves, facility = stay

        address: Address = (None, None, None, "BLANK")
        unreachable = released = False
        u = rng.random()
        if u < r.unauthorized_departure_share:
            community = transfer + int((leaves - transfer) * rng.uniform(0.05, 1.0))
            self._departure(community, facility)
            absconder_share = r.absconder_share_departed
        elif u < r.unauthorized_departure_share + r.repatriated_from_care_share:
            self._add(leaves, CASE_CLOSED, EOIR, ("VOLUNTARY_DEPARTURE",))
            return child_id, self._sorted()
        else:
            community, released = leaves, True
            unreachable = rng.random() < r.wellbeing_unreachable_share
            address = self._release(community)
            absconder_share = r.absconder_share_unreachable if unreachable else r.absconder_share

        closed = self._court(community, nta_id, issued, served, state=address[0] or state,
                             absconder=rng.random() < absconder_share)
        if released:
            self._after_release(community, address, unreachable)
        if closed is not None:
            out[:] = [e for e in out if e[0] <= closed]
        return child_id, self._sorted()

    def _encounter(self, t0: int) -> tuple[str, int, str, int, int]:
        """ChildEncountered and HhsReferralNotified; (agency, source, state, age, referral)."""
        rng, r = self._rng, self._rates
        by_ice = rng.random() < cal.ICE_ENCOUNTER_SHARE
        agency, source = ("ICE", ICE) if by_ice else ("CBP", CBP)
        state = (self._release_states if by_ice else self._border_states).draw(rng)
        low, high = self._ages.draw(rng)
        age = low if low == high else rng.randint(low, high)
        self._add(t0, CHILD_ENCOUNTERED, source,
                  (agency, state, None, age, self._sexes.draw(rng), self._countries.draw(rng)))
        if rng.random() < r.referral_late_share:
            referral = t0 + int(rng.uniform(48.5, 120.0) * HOUR)
        else:
            referral = t0 + int(min(lognormal(rng, 3.0, 0.8), 47.0) * HOUR) + rng.randrange(MINUTE)
        self._add(referral, HHS_REFERRAL_NOTIFIED, source, (agency,))
        return agency, source, state, age, referral

    def _dhs_custody_ms(self, month: tuple[int, int]) -> int:
        median = self._surge_median.get(month)
        if median:
            hours = lognormal(self._rng, median, cal.DHS_CUSTODY_SURGE_SIGMA)
        else:
            hours = lognormal(self._rng, self._rates.dhs_custody_median_hours, cal.DHS_CUSTODY_SIGMA)
        return int(max(hours, 1.0) * HOUR)

    def _nta_at_processing(self, t0: int, transfer: int, source: int,
                           fy: int) -> tuple[str | None, int | None, int | None]:
        """(nta_id, issued, served) if an NTA was issued during processing.

        Such an NTA is often never served (OIG-24-46); before 2021 it was commonly served
        in person on the spot.
        """
        rng = self._rng
        served_now = rng.random() < self._served_at_processing.get(fy, 0.0)
        if not served_now and rng.random() >= self._rates.nta_issued_at_processing_share:
            return None, None, None
        nta_id = synthetic_token(IdKind.NTA, self._serial)
        issued = t0 + int((transfer - t0) * rng.uniform(0.1, 0.8))
        self._add(issued, NTA_ISSUED, source, (nta_id,))
        if not served_now:
            return nta_id, issued, None
        served = issued + rng.randrange(1, 60) * MINUTE
        self._add(served, NTA_SERVED, ICE, (nta_id, "PERSONAL"))
        return nta_id, issued, served

    def _orr_care(self, t0: int, referral: int, transfer: int, agency: str, *, month: tuple[int, int],
                  age: int) -> tuple[int, str] | None:
        """Placement, transfer and the stay; (leaves, facility), or None if the child aged out."""
        rng, r = self._rng, self._rates
        placement_type, facility = self._placement(month, age)
        designated = referral + int(lognormal(rng, 5.0, 0.7) * HOUR)
        if designated >= transfer:
            designated = t0 + int((transfer - t0) * rng.uniform(0.5, 0.95))
        self._add(designated, PLACEMENT_DESIGNATED, ORR, (facility, placement_type))
        self._add(transfer, CUSTODY_TRANSFERRED, ICE_ERO, (agency, facility))
        stay = max(lognormal(rng, r.orr_care_median_days, r.orr_care_sigma), 0.3) * DAY
        leaves = transfer + int(stay)
        if rng.random() < r.step_down_share:
            placement_type, facility = self._placement(None, age)
            self._add(transfer + int(stay * rng.uniform(0.2, 0.7)), PLACEMENT_DESIGNATED, ORR,
                      (facility, placement_type))
        if age == 17:
            turns_18 = t0 + self._days(0.0, 365.0)
            if turns_18 < leaves:
                self._add(max(turns_18, transfer + HOUR), CASE_CLOSED, ORR, ("AGED_OUT",))
                return None
        return leaves, facility

    def _departure(self, left: int, facility: str) -> None:
        rng = self._rng
        self._add(left, UNAUTHORIZED_DEPARTURE, ORR, (facility,))
        if rng.random() < self._rates.departure_located_share:
            source, agency_name, method = rng.choice(cal.VERIFICATIONS_AFTER_DEPARTURE)
            self._add(left + int(lognormal(rng, 2.0, 1.0) * DAY), LOCATION_VERIFIED,
                      SOURCE_CODE[source], (agency_name, method))

    def _sorted(self) -> list[Event]:
        self._out.sort(key=_by_time)
        return self._out

    def _release(self, released: int) -> Address:
        rng, r = self._rng, self._rates
        sponsor_id, address = self._sponsor()
        self._add(released, RELEASED_TO_SPONSOR, ORR,
                  (sponsor_id, self._categories.draw(rng), *address))
        u = rng.random()
        if u >= r.discharge_missing_share:
            if u < r.discharge_missing_share + r.discharge_late_share:
                notice = released + self._days(1.05, 10.0)
            else:
                notice = released + int(min(lognormal(rng, 3.0, 0.8), 23.5) * HOUR)
            self._add(notice, DISCHARGE_NOTIFICATION_SENT, ORR, ("ICE",))
        if address[3] != "VALID" and rng.random() < r.bad_address_fixed_share:
            fixed = released + int(lognormal(rng, 12.0, 1.0) * DAY)
            if rng.random() < 0.1:
                source, agency_name, method = rng.choice(cal.VERIFICATIONS_BY_ORR)
                self._add(fixed, LOCATION_VERIFIED, SOURCE_CODE[source], (agency_name, method))
            else:
                channel = self._fix_channels.draw(rng)
                new = self._address(address[0] or self._release_states.draw(rng))
                self._add(fixed, ADDRESS_CHANGED, _ADDRESS_CHANNEL_SOURCE[channel], (channel, *new))
        return address

    def _after_release(self, released: int, address: Address, unreachable: bool) -> None:
        rng, r = self._rng, self._rates
        if rng.random() >= r.wellbeing_not_attempted_share:
            self._wellbeing_calls(released, address, unreachable)
        if rng.random() < r.post_release_services_share:
            t = released + self._days(7.0, 21.0)
            reach = 0.4 if unreachable else 0.85
            for _ in range(rng.randint(1, 6)):
                kind = "HOME_VISIT" if rng.random() < 0.3 else "CALL"
                self._add(t, POST_RELEASE_CONTACT, PRS, (kind, rng.random() < reach))
                if rng.random() < 0.01:
                    self._add(t + HOUR, WELFARE_CONCERN_REPORTED, PRS,
                              (self._concerns.draw(rng), rng.choice(("LOW", "MEDIUM", "HIGH"))))
                t += self._days(20.0, 45.0)
        if r.moves_per_year > 0:
            t = released
            state = address[0]
            while True:
                t += int(rng.expovariate(r.moves_per_year) * YEAR)
                if t >= self._horizon:
                    break
                channel = self._move_channels.draw(rng)
                if state is None or rng.random() < 0.15:
                    state = self._release_states.draw(rng)
                u = rng.random()
                quality = "VALID" if u < 0.97 else ("MISSING_UNIT" if u < 0.985 else "UNDELIVERABLE")
                self._add(t, ADDRESS_CHANGED, _ADDRESS_CHANNEL_SOURCE[channel],
                          (channel, *self._address(state, quality)))

    def _wellbeing_calls(self, released: int, address: Address, unreachable: bool) -> None:
        rng, r = self._rng, self._rates
        if rng.random() < r.wellbeing_late_first_attempt_share:
            t = released + self._days(38.0, 50.0)
        else:
            t = released + self._days(29.0, 32.0)
        attempt = 0
        if unreachable:
            for _ in range(self._unreachable_attempts.draw(rng)):
                attempt += 1
                self._add(t, WELLBEING_CALL_ATTEMPTED, ORR_PROVIDER,
                          (attempt, self._call_failures.draw(rng), None, None, False))
                t += self._days(1.0, 2.5)
            if rng.random() >= r.lost_contact_recovered_share:
                return
            t += self._days(7.0, 60.0)
        else:
            for _ in range(self._failed_before_reach.draw(rng)):
                attempt += 1
                self._add(t, WELLBEING_CALL_ATTEMPTED, ORR_PROVIDER,
                          (attempt, self._call_failures.draw(rng), None, None, False))
                t += self._days(1.0, 2.0)
        outcome = "REACHED_CHILD" if rng.random() < 0.85 else "REACHED_SPONSOR_ONLY"
        with_sponsor = rng.random() >= r.not_with_sponsor_share
        concern = rng.random() < r.safety_concern_share
        u = rng.random()
        confirmed = True if u < 0.90 else (False if u < 0.95 else None)
        self._add(t, WELLBEING_CALL_ATTEMPTED, ORR_PROVIDER,
                  (attempt + 1, outcome, with_sponsor, confirmed, concern))
        if not with_sponsor or concern:
            if rng.random() < 0.7:
                kind = "NOT_WITH_SPONSOR" if not with_sponsor else self._concerns.draw(rng)
                self._add(t + rng.randrange(5, 120) * MINUTE, WELFARE_CONCERN_REPORTED, ORR_PROVIDER,
                          (kind, "CRITICAL" if not with_sponsor else "HIGH"))
            if rng.random() < 0.5:
                source, agency_name, method = rng.choice(cal.VERIFICATIONS_BY_ORR)
                self._add(t + self._days(1.0, 14.0), LOCATION_VERIFIED, SOURCE_CODE[source],
                          (agency_name, method))
        if confirmed is False and rng.random() < 0.6:
            new = self._address(address[0] or self._release_states.draw(rng))
            self._add(t + rng.randrange(5, 60) * MINUTE, ADDRESS_CHANGED, ORR_PROVIDER,
                      ("WELLBEING_CALL", *new))

    def _court(  # noqa: PLR0911, PLR0915 - one child's court path in draw order; split, it would hide the order
            self, community: int, nta_id: str | None, issued: int | None, served: int | None, *,
            state: str, absconder: bool) -> int | None:
        """NTA service and the hearings; returns when the case closed, if it did."""
        rng, r, horizon = self._rng, self._rates, self._horizon
        if served is None:
            served = community + int(rng.expovariate(1.0 / r.nta_service_mean_years) * YEAR)
            if served >= horizon:
                return None
            if nta_id is None:
                nta_id = synthetic_token(IdKind.NTA, self._serial)
                issued = max(community, served - self._days(1.0, 30.0))
                self._add(issued, NTA_ISSUED, ICE, (nta_id,))
            self._add(served, NTA_SERVED, ICE, (nta_id, "MAIL" if rng.random() < 0.65 else "PERSONAL"))
        if rng.random() < r.nta_not_filed_share:
            return None
        filed = max(served, community) + int(lognormal(rng, r.nta_filing_median_days, 0.8) * DAY)
        court = rng.choice(cal.COURTS[state])
        self._add(filed, NTA_FILED, ICE_OPLA, (court,))

        scheduled = filed + int(lognormal(rng, r.hearing_scheduling_median_days, 0.8) * DAY)
        hearing_at = court_slot(scheduled + int(max(lognormal(rng, r.first_hearing_median_days, 0.6), 14.0) * DAY))
        hearing_type = "MASTER"
        failures = masters = 0
        fta_share = r.absconder_fta_share if absconder else r.attender_fta_share
        for _ in range(r.max_hearings):
            if scheduled >= horizon:
                return None
            hearing_id = synthetic_token(IdKind.HEARING, self._hearings)
            self._hearings += 1
            self._add(scheduled, HEARING_SCHEDULED, EOIR, (hearing_id, iso(hearing_at), hearing_type, court))
            while rng.random() < r.reschedule_share:
                scheduled += int((hearing_at - scheduled) * rng.uniform(0.2, 0.9))
                hearing_at = court_slot(hearing_at + int(lognormal(rng, 45.0, 0.5) * DAY))
                self._add(scheduled, HEARING_SCHEDULED, EOIR, (hearing_id, iso(hearing_at), hearing_type, court))
            if hearing_at >= horizon:
                return None
            if rng.random() < fta_share:
                self._add(hearing_at, FAILURE_TO_APPEAR, EOIR, (hearing_id,))
                failures += 1
                if rng.random() < r.fta_located_share:
                    source, agency_name, method = rng.choice(cal.VERIFICATIONS_AFTER_FTA)
                    self._add(hearing_at + self._days(3.0, 60.0), LOCATION_VERIFIED,
                              SOURCE_CODE[source], (agency_name, method))
                if failures >= r.in_absentia_after_ftas:
                    self._add(hearing_at + MINUTE, IN_ABSENTIA_ORDER, EOIR, (hearing_id,))
                    self._add(hearing_at + 2 * MINUTE, CASE_CLOSED, EOIR, ("REMOVAL_ORDER",))
                    return hearing_at + 2 * MINUTE
                scheduled = hearing_at + self._days(1.0, 10.0)
                hearing_at = court_slot(scheduled + int(max(lognormal(rng, 60.0, 0.5), 21.0) * DAY))
                hearing_type = "MASTER"
                continue
            ended = hearing_at + rng.randrange(15, 90) * MINUTE
            closes = r.individual_closure_share if hearing_type == "INDIVIDUAL" else r.hearing_closure_share
            if rng.random() < closes:
                self._add(ended, HEARING_ATTENDED, EOIR, (hearing_id, None))
                self._add(ended + MINUTE, CASE_CLOSED, EOIR, (self._closures.draw(rng),))
                return ended + MINUTE
            masters += hearing_type == "MASTER"
            next_at = court_slot(hearing_at + int(max(lognormal(rng, 150.0, 0.6), 30.0) * DAY))
            self._add(ended, HEARING_ATTENDED, EOIR, (hearing_id, iso(next_at)))
            hearing_type = "INDIVIDUAL" if masters >= 2 and rng.random() < 0.4 else "MASTER"
            scheduled = ended + rng.randrange(1, 30) * MINUTE
            hearing_at = next_at
        return None
