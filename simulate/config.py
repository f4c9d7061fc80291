"""What a simulation run is asked to do: seed, volume, window, rates and feed messiness.

`Rates` holds the per-child probabilities and delays of the lifecycle (defaults from
domain.md, see calibration.py for sources); `FeedRates` how the feeds deliver (lateness,
out-of-order, duplicates). Every value is checked when the config is made, so a bad rate
fails at once with its name instead of skewing a five-million-event run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ucwatch.core.errors import SettingsError
from ucwatch.simulate import calibration as cal
from ucwatch.simulate.events import SOURCES


@dataclass(frozen=True)
class Rates:
    """Lifecycle probabilities (shares of children) and delays."""

    # Encounter and DHS custody
    male_share: float = 0.70
    referral_late_share: float = 0.03          # HHS notified after the 48 h of 8 USC 1232(b)(2)
    dhs_custody_median_hours: float = cal.DHS_CUSTODY_MEDIAN_HOURS
    dhs_custody_surge_mean_hours: tuple[tuple[tuple[int, int], float], ...] = (
        cal.DHS_CUSTODY_SURGE_MEAN_HOURS)
    not_transferred_share: float = 0.016       # 455k referrals vs. 448k transfers (OIG-24-46)
    # ORR care
    orr_care_median_days: float = cal.ORR_CARE_MEDIAN_DAYS
    orr_care_sigma: float = cal.ORR_CARE_SIGMA
    step_down_share: float = 0.08              # moved to a second placement
    unauthorized_departure_share: float = 0.004
    departure_located_share: float = 0.35
    repatriated_from_care_share: float = 0.01
    # Release
    sponsor_reuse_share: float = 0.08          # sponsor already sponsored another child
    bad_address_share: float = cal.BAD_ADDRESS_SHARE
    bad_address_fixed_share: float = 0.45
    discharge_late_share: float = 0.08         # notice to ICE after the 24 h
    discharge_missing_share: float = 0.01
    # 30-day Safety and Well-Being call
    wellbeing_not_attempted_share: float = 0.03
    wellbeing_unreachable_share: float = 0.27  # 19% (2017) .. 33.5% (2021)
    wellbeing_late_first_attempt_share: float = 0.04
    lost_contact_recovered_share: float = 0.35
    not_with_sponsor_share: float = 0.025      # of reached calls
    safety_concern_share: float = 0.015        # of reached calls
    post_release_services_share: float = 0.30
    moves_per_year: float = 0.2
    # NTA: served at processing by FY of encounter, else a long-tailed wait after release
    nta_served_at_processing: tuple[tuple[int, float], ...] = (
        (2019, 0.45), (2020, 0.45), (2021, 0.05), (2022, 0.05), (2023, 0.05))
    nta_service_mean_years: float = 5.5
    nta_issued_at_processing_share: float = 0.5
    nta_not_filed_share: float = 0.04
    nta_filing_median_days: float = 20.0
    hearing_scheduling_median_days: float = 10.0
    first_hearing_median_days: float = 90.0
    reschedule_share: float = 0.15
    # Court appearance: a share of children stop appearing (about 20% of those served FTA)
    absconder_share: float = 0.19
    absconder_share_unreachable: float = 0.30
    absconder_share_departed: float = 0.80
    absconder_fta_share: float = 0.85
    attender_fta_share: float = 0.02
    in_absentia_after_ftas: int = 3
    fta_located_share: float = 0.25
    hearing_closure_share: float = 0.08        # case closed at a master hearing
    individual_closure_share: float = 0.60     # case closed at an individual hearing
    max_hearings: int = 12                     # per child, at most 16 (hearing id serials)


@dataclass(frozen=True)
class FeedRates:
    """How the feeds deliver: lag, lateness, out-of-order arrival and duplicates."""

    realtime_lag_median_minutes: float = 20.0   # CBP, ICE, USCIS, sponsors: minutes to hours
    realtime_late_share: float = 0.03
    realtime_late_days: tuple[float, float] = (1.0, 10.0)
    batch_processing_median_hours: float = 4.0  # ORR, providers, PRS, EOIR: nightly loads
    batch_late_share: float = 0.25              # "7 days or more is normal" (domain.md)
    batch_late_days: tuple[float, float] = (7.0, 30.0)
    out_of_order_share: float = 0.02            # held back past the child's next event
    duplicate_share: float = 0.01               # same event_id and content delivered twice
    late_by_load: bool = False
    """Draw the tail lateness once per (source, nightly load) for batch sources and per
    (source, day) for the others, not per event: a whole export arrives late, so the source
    knows what it has not delivered yet and can declare a watermark. Draws the same random
    numbers per event, so histories do not change."""
    load_late_share: float = 0.03               # late_by_load: the share of loads (days) late
    outage: tuple[str, str, str] | None = None
    """(source, from, until) ISO-8601 UTC: the source delivers nothing recorded in the
    window until it ends (at its next load for a batch source)."""


def _end_of_fy(fy: int) -> datetime:
    return datetime(fy, 10, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 0
    children: int | None = None
    """None: the calibrated volume (455,442 for FY2019-23); N: scaled to N, same mix."""
    start_fy: int = 2019
    end_fy: int = 2023
    as_of: datetime | None = None
    """Nothing recorded at or after this instant is emitted; default: end of end_fy."""
    rates: Rates = field(default_factory=Rates)
    feed: FeedRates = field(default_factory=FeedRates)
    workers: int | None = None
    """Processes generating children; None: one per CPU for large runs. Output is the same."""

    def __post_init__(self) -> None:
        known = sorted(cal.FY_REFERRALS)
        if not (known[0] <= self.start_fy <= self.end_fy <= known[-1]):
            raise SettingsError(f"fiscal years {self.start_fy}..{self.end_fy} outside the calibrated "
                                f"FY{known[0]}..FY{known[-1]}")
        if self.children is not None and (isinstance(self.children, bool) or self.children < 0):
            raise SettingsError(f"children must be None or >= 0, not {self.children!r}")
        if self.as_of is not None:
            if self.as_of.tzinfo is None:
                raise SettingsError("as_of must be timezone-aware (UTC)")
            if self.as_of <= self.window_start:
                raise SettingsError(f"as_of {self.as_of.isoformat()} is before the window start")
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise SettingsError(f"workers must be None or >= 1, not {self.workers!r}")
        _check_rates(self.rates, "rates")
        _check_rates(self.feed, "feed")

    @property
    def window_start(self) -> datetime:
        return datetime(self.start_fy - 1, 10, 1, tzinfo=UTC)

    @property
    def window_end(self) -> datetime:
        return _end_of_fy(self.end_fy)

    @property
    def effective_as_of(self) -> datetime:
        return self.as_of or self.window_end


def _check_rates(rates: Rates | FeedRates, section: str) -> None:
    for f in dataclasses.fields(rates):
        value = getattr(rates, f.name)
        name = f"{section}.{f.name}"
        if f.name.endswith("_share"):
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be a share between 0 and 1, not {value!r}")
        elif isinstance(value, tuple) and f.name.endswith("_days"):
            low, high = value
            if not 0 <= low <= high:
                raise SettingsError(f"{name} must be (low, high) with 0 <= low <= high, not {value!r}")
        elif f.name == "nta_served_at_processing":
            if any(not 0.0 <= share <= 1.0 for _, share in value):
                raise SettingsError(f"{name}: every share must be between 0 and 1")
        elif isinstance(value, (int, float)) and value < 0:
            raise SettingsError(f"{name} must not be negative, not {value!r}")
    if isinstance(rates, FeedRates) and rates.outage is not None:
        _check_outage(rates.outage)
    if isinstance(rates, Rates):
        if rates.in_absentia_after_ftas < 1:
            raise SettingsError("rates.in_absentia_after_ftas must be at least 1")
        if not 1 <= rates.max_hearings <= 16:
            raise SettingsError("rates.max_hearings must be between 1 and 16")


def _check_outage(outage: tuple[str, str, str]) -> None:
    source, start, end = outage
    if source not in SOURCES:
        raise SettingsError(f"feed.outage: unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    try:
        begins, ends = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    except ValueError:
        raise SettingsError(f"feed.outage: {start!r} / {end!r} must be ISO-8601 date-times") from None
    if begins.tzinfo is None or ends.tzinfo is None or ends <= begins:
        raise SettingsError("feed.outage: from and until must be UTC date-times with until later than from")
