"""The synthetic history generator: determinism, contract, calibration, feed messiness."""

from __future__ import annotations

import io
import json
import multiprocessing
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from tests.helpers import truth_from_events
from ucwatch.core.errors import SettingsError
from ucwatch.core.pseudonym import IdKind, is_synthetic_token, is_token
from ucwatch.simulate import (
    FeedRates,
    GroundTruth,
    Rates,
    Simulation,
    SimulationConfig,
    SimulationNotFinished,
    encounter_plan,
    simulate,
    write_jsonl,
)
from ucwatch.simulate import calibration as cal
from ucwatch.simulate.children import ChildFactory
from ucwatch.simulate.events import EVENT_TYPES, FIELDS, SOURCES
from ucwatch.simulate.lifecycle import court_slot
from ucwatch.simulate.workers import WorkerFailed
from ucwatch.simulate.writer import _dumps

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro" / "lifecycle"
ID_FIELDS = {"child_id": IdKind.CHILD, "sponsor_id": IdKind.SPONSOR, "facility_id": IdKind.FACILITY,
             "nta_id": IdKind.NTA, "hearing_id": IdKind.HEARING}
WINDOW_END = "2023-10-01T00:00:00.000Z"
CALIBRATION_CHILDREN = 20_000


def _schemas() -> dict[str, dict[str, Any]]:
    return {path.parent.name: json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*/v1.avsc")}


def _jsonl(config: SimulationConfig) -> bytes:
    out = io.BytesIO()
    write_jsonl(simulate(config), out)
    return out.getvalue()


@dataclass
class RunStats:
    """What the calibration tests need, gathered in one pass over a run."""

    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    ids: Counter[str] = field(default_factory=Counter)
    content: dict[str, bytes] = field(default_factory=dict)
    duplicate_content_differs: int = 0
    unordered: int = 0
    recorded_before_occurred: int = 0
    after_window: int = 0
    not_synthetic: list[str] = field(default_factory=list)
    arrived_out_of_order: int = 0
    encountered: dict[str, tuple[str, str]] = field(default_factory=dict)
    custody_hours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    stay_days: list[float] = field(default_factory=list)
    hearing_times: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lives_elsewhere: int = 0
    safety_concerns: int = 0
    late_7_days: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)


def _ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


@pytest.fixture(scope="module")
def run() -> tuple[RunStats, GroundTruth]:
    sim = Simulation(SimulationConfig(seed=11, children=CALIBRATION_CHILDREN, workers=1))
    stats = RunStats()
    last_recorded = ""
    newest_seen: dict[str, str] = {}
    transferred: dict[str, float] = {}
    for event in sim.events():
        stats.events += 1
        kind, child, occurred, recorded = (event["event_type"], event["child_id"], event["occurred_at"],
                                           event["recorded_at"])
        stats.by_type[kind] += 1
        line = _dumps(event)
        stats.ids[event["event_id"]] += 1
        first = stats.content.setdefault(event["event_id"], line)
        stats.duplicate_content_differs += first != line
        stats.unordered += recorded < last_recorded
        last_recorded = recorded
        stats.recorded_before_occurred += recorded < occurred
        stats.after_window += recorded >= WINDOW_END or occurred >= WINDOW_END
        stats.arrived_out_of_order += occurred < newest_seen.get(child, "")
        newest_seen[child] = max(newest_seen.get(child, ""), occurred)
        if event["synthetic"] is not True or any(
                name in event and event[name] is not None and not (
                    is_synthetic_token(event[name]) and is_token(event[name], kind_))
                for name, kind_ in ID_FIELDS.items()):
            stats.not_synthetic.append(line.decode())
        stats.by_source[event["source"]] += 1
        stats.late_7_days[event["source"]] += _ms(recorded) - _ms(occurred) >= 7 * 86_400_000
        if kind == "ChildEncountered":
            stats.encountered[child] = (occurred[:7], occurred)
        elif kind == "CustodyTransferred" and child in stats.encountered:
            month, at = stats.encountered[child]
            stats.custody_hours[month].append((_ms(occurred) - _ms(at)) / 3_600_000)
            transferred[child] = _ms(occurred)
        elif kind == "ReleasedToSponsor" and child in transferred:
            stats.stay_days.append((_ms(occurred) - transferred[child]) / 86_400_000)
        elif kind == "HearingScheduled":
            stats.hearing_times[event["hearing_id"]].add(event["hearing_at"])
        elif kind == "WellbeingCallAttempted":
            stats.lives_elsewhere += event["lives_with_sponsor"] is False
            stats.safety_concerns += event["safety_concern"]
    return stats, sim.truth


# -- the contract -----------------------------------------------------------------------------

def test_vocabulary_matches_the_avro_schemas() -> None:
    schemas = _schemas()
    assert set(EVENT_TYPES) == set(schemas)
    for name, fields in zip(EVENT_TYPES, FIELDS, strict=True):
        assert tuple(f["name"] for f in schemas[name]["fields"][7:]) == fields, name
    agency = schemas["CaseClosed"]["fields"][5]["type"]
    assert tuple(agency["symbols"]) == SOURCES


def _avro_ready(event: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    record = dict(event)
    for spec in schema["fields"]:
        branches = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        logical = {b.get("logicalType") for b in branches if isinstance(b, dict)}
        value = record.get(spec["name"])
        if value is None:
            continue
        if "timestamp-millis" in logical:
            record[spec["name"]] = datetime.fromisoformat(value)
        elif "date" in logical:
            record[spec["name"]] = date.fromisoformat(value)
    return record


def test_every_event_has_exactly_its_schema_fields_and_validates() -> None:
    schemas = _schemas()
    parsed = {name: fastavro.parse_schema(schema) for name, schema in schemas.items()}
    seen = Counter()
    for event in simulate(SimulationConfig(seed=5, children=1500)):
        schema = schemas[event["event_type"]]
        assert list(event) == [f["name"] for f in schema["fields"]]
        assert validate(_avro_ready(event, schema), parsed[event["event_type"]], raise_errors=True)
        assert event["occurred_at"].endswith("Z") and len(event["occurred_at"]) == 24
        seen[event["event_type"]] += 1
    assert set(EVENT_TYPES) - set(seen) <= {"UnauthorizedDeparture"}


def test_ids_are_synthetic_tokens_and_events_flagged(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    assert stats.not_synthetic == []


def test_addresses_are_reduced_to_state_county_zip() -> None:
    for event in simulate(SimulationConfig(seed=2, children=800)):
        if event["event_type"] in ("ReleasedToSponsor", "AddressChanged"):
            if event["address_quality"] == "BLANK":
                assert event["state"] is None and event["county"] is None and event["zip"] is None
            else:
                assert event["state"] in cal.GEOGRAPHY
                assert event["county"].isdigit() and len(event["county"]) == 5
                assert event["county"][:2] == cal.GEOGRAPHY[event["state"]][0]
                assert event["zip"].isdigit() and len(event["zip"]) == 5


# -- determinism and scale ----------------------------------------------------------------------

def test_same_config_gives_byte_identical_output() -> None:
    config = SimulationConfig(seed=3, children=1500)
    first = _jsonl(config)
    assert first == _jsonl(config)
    assert first != _jsonl(replace(config, seed=4))


def test_worker_processes_give_the_same_bytes_and_truth() -> None:
    config = SimulationConfig(seed=9, children=1500, workers=1)
    alone, in_workers = Simulation(config), Simulation(replace(config, workers=2))
    out_alone, out_workers = io.BytesIO(), io.BytesIO()
    write_jsonl(alone.events(), out_alone)
    write_jsonl(in_workers.events(), out_workers)
    assert out_alone.getvalue() == out_workers.getvalue()
    assert alone.truth.as_dict() == in_workers.truth.as_dict()
    assert alone.delivered_truth.as_dict() == in_workers.delivered_truth.as_dict()
    assert multiprocessing.active_children() == []


def test_feed_rates_never_change_the_histories() -> None:
    config = SimulationConfig(seed=8, children=1000)
    tidy = replace(config, feed=FeedRates(realtime_late_share=0, batch_late_share=0,
                                          out_of_order_share=0, duplicate_share=0))
    messy, clean = Simulation(config), Simulation(tidy)
    messy.run()
    clean_events = list(clean.events())
    assert messy.truth.as_dict() == clean.truth.as_dict()
    assert len({e["event_id"] for e in clean_events}) == len(clean_events)


def test_volumes_scale_with_the_same_mix() -> None:
    full = encounter_plan(SimulationConfig())
    assert sum(n for *_, n in full) == sum(cal.FY_REFERRALS.values()) == 455_442
    for fy, total in cal.FY_REFERRALS.items():
        assert sum(n for f, _, n in full if f == fy) == total
    peak = max(full, key=lambda month: month[2])
    assert peak[1] == cal.PEAK_MONTH and peak[2] == cal.PEAK_MONTH_REFERRALS
    for children in (1000, 45_544):
        scaled = encounter_plan(SimulationConfig(children=children))
        assert sum(n for *_, n in scaled) == children
        assert max(scaled, key=lambda month: month[2])[1] == cal.PEAK_MONTH
        for fy, total in cal.FY_REFERRALS.items():
            share = sum(n for f, _, n in scaled if f == fy) / children
            assert share == pytest.approx(total / 455_442, abs=1.5 / children * 12)
    one_year = encounter_plan(SimulationConfig(children=500, start_fy=2021, end_fy=2021))
    assert len(one_year) == 12 and sum(n for *_, n in one_year) == 500


def test_truth_counts_every_child_encountered(run: tuple[RunStats, GroundTruth]) -> None:
    stats, truth = run
    total = truth.total()
    assert total.encounters == CALIBRATION_CHILDREN
    assert set(truth.by_fy) == set(cal.FY_REFERRALS)
    for fy, cohort in truth.by_fy.items():
        assert cohort.encounters == pytest.approx(
            CALIBRATION_CHILDREN * cal.FY_REFERRALS[fy] / 455_442, abs=12)
    # the few encountered minutes before the window end are recorded after it
    assert CALIBRATION_CHILDREN - 30 <= len(stats.encountered) <= CALIBRATION_CHILDREN


def test_truth_only_once_the_events_are_exhausted() -> None:
    sim = Simulation(SimulationConfig(seed=1, children=50))
    events = sim.events()
    next(events)
    with pytest.raises(SimulationNotFinished):
        _ = sim.truth
    list(events)
    assert sim.truth.total().encounters == 50


def test_stopping_early_removes_the_spill_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for workers in (1, 2):
        events = simulate(SimulationConfig(seed=1, children=3000, workers=workers))
        for _ in range(10):
            next(events)
        assert list(tmp_path.iterdir())
        events.close()
        assert list(tmp_path.iterdir()) == []
    assert multiprocessing.active_children() == []


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="the patch reaches the workers only when they are forked")
def test_a_failing_worker_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ChildFactory, children: list, fy: int, month: tuple[int, int]) -> list:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(ChildFactory, "make", broken)  # forked workers inherit the patch
    with pytest.raises(WorkerFailed, match="broken on purpose"):
        list(simulate(SimulationConfig(seed=1, children=100, workers=2)))
    assert multiprocessing.active_children() == []


# -- arrival order and feed messiness -------------------------------------------------------------

def test_arrival_order_is_by_recorded_at(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    assert stats.unordered == 0
    assert stats.recorded_before_occurred == 0


def test_nothing_after_the_window_end(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    assert stats.after_window == 0


def test_as_of_cuts_the_feed() -> None:
    as_of = datetime(2021, 1, 1, tzinfo=UTC)
    sim = Simulation(SimulationConfig(seed=4, children=2000, as_of=as_of))
    events = list(sim.events())
    assert events and max(e["recorded_at"] for e in events) < "2021-01-01T00:00:00.000Z"
    encountered = {e["child_id"] for e in events if e["event_type"] == "ChildEncountered"}
    assert sim.truth.total().encounters == sim.children_generated >= len(encountered)
    assert sim.children_generated < 2000 * 0.5


def test_duplicates_at_the_configured_rate(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    repeated = sum(1 for count in stats.ids.values() if count > 1)
    assert max(stats.ids.values()) == 2
    assert repeated / len(stats.ids) == pytest.approx(FeedRates().duplicate_share, abs=0.002)
    assert stats.duplicate_content_differs == 0


def test_late_and_out_of_order_arrivals(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    for source in ("ORR", "ORR_PROVIDER", "EOIR"):
        assert stats.late_7_days[source] / stats.by_source[source] == pytest.approx(
            FeedRates().batch_late_share, abs=0.03)
    assert stats.late_7_days["CBP"] / stats.by_source["CBP"] < 0.03
    assert 0.05 < stats.arrived_out_of_order / stats.events < 0.35


def test_no_messiness_when_the_rates_are_zero() -> None:
    feed = FeedRates(realtime_late_share=0, batch_late_share=0, out_of_order_share=0, duplicate_share=0)
    events = list(simulate(SimulationConfig(seed=6, children=500, feed=feed)))
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(_ms(e["recorded_at"]) - _ms(e["occurred_at"]) < 7 * 86_400_000 for e in events)


# -- calibration (domain.md "Calibration figures" and "Time windows") -------------------------------

def test_age_sex_and_country_mix(run: tuple[RunStats, GroundTruth]) -> None:
    total = run[1].total()
    labels = {(0, 5): "0-5", (6, 12): "6-12", (13, 14): "13-14", (15, 16): "15-16", (17, 17): "17"}
    for bracket, share in cal.AGE_BRACKETS:
        assert total.age_brackets[labels[bracket]] / total.encounters == pytest.approx(share, abs=0.012)
    assert total.sexes["MALE"] / total.encounters == pytest.approx(0.70, abs=0.012)
    top = [country for country, _ in total.countries.most_common(3)]
    assert top == ["GT", "HN", "SV"]
    assert {"MX", "EC"} <= set(dict(total.countries.most_common(6)))


def test_dhs_custody_under_72_hours_except_the_2021_surge(run: tuple[RunStats, GroundTruth]) -> None:
    stats, truth = run
    normal = [h for month, hours in stats.custody_hours.items() if month < "2021-03" for h in hours]
    assert statistics.mean(normal) < 40 and sum(h > 72 for h in normal) / len(normal) < 0.06
    assert statistics.mean(stats.custody_hours["2021-04"]) == pytest.approx(122, abs=12)
    assert truth.total().share_over_72h < 0.15


def test_orr_length_of_care(run: tuple[RunStats, GroundTruth]) -> None:
    stats, _ = run
    assert statistics.median(stats.stay_days) == pytest.approx(25, abs=2.5)
    assert 26 <= statistics.mean(stats.stay_days) <= 36


def test_release_states(run: tuple[RunStats, GroundTruth]) -> None:
    states = run[1].total().release_states
    released = sum(states.values())
    expected_total = sum(n for _, n in cal.TOP_RELEASE_STATES) / cal.TOP_RELEASE_SHARE
    for state, count in cal.TOP_RELEASE_STATES[:4]:
        assert states[state] / released == pytest.approx(count / expected_total, abs=0.012)
    top10 = {state for state, _ in cal.TOP_RELEASE_STATES}
    assert sum(states[s] for s in top10) / released == pytest.approx(0.68 * (1 - 0.069 * 0.13), abs=0.02)
    assert [s for s, _ in states.most_common(4)] == ["TX", "CA", "FL", "NY"]


def test_bad_release_addresses(run: tuple[RunStats, GroundTruth]) -> None:
    total = run[1].total()
    assert total.bad_address_share == pytest.approx(0.069, abs=0.007)


def test_wellbeing_calls(run: tuple[RunStats, GroundTruth]) -> None:
    stats, truth = run
    total = truth.total()
    assert 0.20 <= total.unreachable_share <= 0.35
    assert 0 < total.lost_contact < total.wellbeing_unreachable
    assert stats.lives_elsewhere > 0 and stats.safety_concerns > 0
    assert total.not_with_sponsor > 0


def test_nta_backlog_and_failures_to_appear(run: tuple[RunStats, GroundTruth]) -> None:
    _, truth = run
    total = truth.total()
    assert total.nta_not_served_share == pytest.approx(0.65, abs=0.04)
    assert total.fta_share_of_served == pytest.approx(0.20, abs=0.03)
    # scaled to the full volume: about 32k children failing to appear (OIG-24-46)
    assert total.children_with_fta * 455_442 / CALIBRATION_CHILDREN == pytest.approx(32_000, rel=0.2)
    assert 0 < total.whereabouts_unknown <= total.children_with_fta
    assert 0 < total.in_absentia_orders < total.children_with_fta
    # older cohorts are served more often
    assert truth.by_fy[2019].nta_not_served_share < truth.by_fy[2023].nta_not_served_share


def test_court_and_care_events_present(run: tuple[RunStats, GroundTruth]) -> None:
    stats, truth = run
    rescheduled = sum(1 for times in stats.hearing_times.values() if len(times) > 1)
    assert 0.05 < rescheduled / len(stats.hearing_times) < 0.3
    assert 0 < stats.by_type["UnauthorizedDeparture"] < 0.01 * CALIBRATION_CHILDREN
    outcomes = truth.total().case_outcomes
    assert {"REMOVAL_ORDER", "AGED_OUT", "TERMINATED", "VOLUNTARY_DEPARTURE"} <= set(outcomes)
    for kind in ("AddressChanged", "LocationVerified", "PostReleaseContact", "WelfareConcernReported",
                 "InAbsentiaOrder", "DischargeNotificationSent", "NtaFiled", "HearingAttended"):
        assert stats.by_type[kind] > 0, kind


def test_hearings_fall_on_weekday_court_hours() -> None:
    for ms in range(1_600_000_000_000, 1_600_000_000_000 + 30 * 86_400_000, 7_777_777):
        slot = court_slot(ms)
        moment = datetime.fromtimestamp(slot / 1000, tz=UTC)
        assert slot >= ms - 86_400_000 and moment.weekday() < 5 and 13 <= moment.hour < 21


# -- configuration and output -------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"children": -1}, {"start_fy": 2018}, {"end_fy": 2024}, {"start_fy": 2022, "end_fy": 2021},
    {"workers": 0}, {"rates": Rates(bad_address_share=1.5)}, {"rates": Rates(max_hearings=17)},
    {"feed": FeedRates(duplicate_share=-0.1)}, {"feed": FeedRates(batch_late_days=(9.0, 2.0))},
    {"as_of": datetime(2024, 1, 1)}, {"as_of": datetime(2018, 1, 1, tzinfo=UTC)},
])
def test_bad_settings_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        SimulationConfig(**change)


def test_write_jsonl_to_path_binary_and_text_files(tmp_path: Path) -> None:
    events = list(simulate(SimulationConfig(seed=1, children=40)))
    path = tmp_path / "out.jsonl"
    assert write_jsonl(events, path) == len(events)
    binary, text = io.BytesIO(), io.StringIO()
    write_jsonl(events, binary)
    write_jsonl(events, text)
    assert path.read_bytes() == binary.getvalue() == text.getvalue().encode()
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == events
    assert lines[0] == json.dumps(events[0], separators=(",", ":")).encode()


# -- the delivered truth ----------------------------------------------------------------------------

_EVENT_COUNTS = ("encounters", "referrals_late", "transfers", "transfers_over_72h", "releases",
                 "bad_release_addresses", "discharge_notices_late", "unauthorized_departures",
                 "not_with_sponsor", "nta_served", "ftas", "children_with_fta", "in_absentia_orders")


def test_delivered_truth_is_what_the_stream_shows() -> None:
    sim = Simulation(SimulationConfig(seed=12, children=1500, workers=1))
    events = list(sim.events())
    recounted = truth_from_events(events, sim.config.effective_as_of)
    assert recounted.as_dict() == sim.delivered_truth.as_dict()
    delivered, real = sim.delivered_truth.total(), sim.truth.total()
    encountered = {e["child_id"] for e in events if e["event_type"] == "ChildEncountered"}
    assert delivered.encounters == len(encountered) <= real.encounters == 1500
    # what happened but is not on record yet can only lower the counts of events...
    for name in _EVENT_COUNTS:
        assert getattr(delivered, name) <= getattr(real, name), name
    assert sum(delivered.case_outcomes.values()) <= sum(real.case_outcomes.values())
    # ...and it is the recent past only: lateness is days to a month
    assert 0 < real.releases - delivered.releases < 0.03 * real.releases
    # while the absence of a follow-up not yet on record is counted as missing
    assert delivered.discharge_notices_missing >= real.discharge_notices_missing


def test_a_child_without_its_encounter_is_not_counted() -> None:
    truth = GroundTruth(as_of_ms=10**13)
    truth.observe(2021, [])
    truth.observe(2021, [(1_000, 3, 2, "e1", ("CBP", "F1")),      # CustodyTransferred
                         (2_000, 6, 4, "e2", ("ICE",)),            # DischargeNotificationSent
                         (3_000, 7, 5, "e3", (1, "NO_ANSWER", None, None, False))])
    assert truth.by_fy == {}
