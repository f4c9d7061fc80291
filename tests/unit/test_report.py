"""The oversight views (migration V003) and report against the simulator's delivered truth.

A seeded history is landed in a real embedded ClickHouse (chDB), row for row as the sink
would land it (duplicates included), without Kafka. The report as of the simulation's
as_of must reproduce `Simulation.delivered_truth` figure by figure; as of an earlier date,
the truth recounted from the events recorded before it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import insert_simulated_events, truth_from_events
from ucwatch.analysts.report import COUNTS, oversight, render_report, run_report
from ucwatch.core.settings import Settings
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate

DATABASE = "report_test"
CHILDREN = 2500
EARLIER = datetime(2022, 1, 1, tzinfo=UTC)


class Store:
    def __init__(self, settings: Settings, sim: Simulation, events: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.sim = sim
        self.events = events
        self.as_of = sim.config.effective_as_of
        self.client = connect(settings)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("report") / "ch"
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": f"chdb://{path}",
                                      "UCWATCH_CLICKHOUSE_DATABASE": DATABASE})
    sim = Simulation(SimulationConfig(seed=21, children=CHILDREN, workers=1))
    events = list(sim.events())
    setup = connect(settings, database="")
    try:
        migrate(setup, settings)
        assert insert_simulated_events(setup, DATABASE, events) == len(events)
    finally:
        setup.close()
    landed = Store(settings, sim, events)
    try:
        yield landed
    finally:
        landed.client.close()


def _comparable(cohort: dict[str, Any]) -> dict[str, Any]:
    """A truth cohort (CohortTruth.as_dict()) reduced to the figures the report has."""
    return {**{name: cohort[name] for name in COUNTS}, "case_outcomes": cohort["case_outcomes"],
            "shares": cohort["shares"]}


def _assert_same(report: dict[str, Any], truth: dict[str, Any]) -> None:
    assert sorted(report["by_fy"]) == sorted(truth["by_fy"])
    for fy, cohort in truth["by_fy"].items():
        expected, got = _comparable(cohort), report["by_fy"][fy]
        for name in expected:
            assert got[name] == expected[name], (fy, name)
        assert got == expected
    assert report["total"] == _comparable(truth["total"])


def test_the_report_reproduces_the_delivered_truth(store: Store) -> None:
    report = oversight(store.client, DATABASE, store.as_of)
    truth = store.sim.delivered_truth.as_dict()
    _assert_same(report, truth)
    total = report["total"]
    assert total["encounters"] == len({e["child_id"] for e in store.events
                                       if e["event_type"] == "ChildEncountered"})
    # the feed duplicated some events: the report counted each once
    assert len(store.events) > len({e["event_id"] for e in store.events})
    # figures that can be zero in a small run are not all zero here
    for name in ("transfers_over_72h", "bad_release_addresses", "discharge_notices_late",
                 "discharge_notices_missing", "wellbeing_unreachable", "wellbeing_not_attempted",
                 "lost_contact", "not_with_sponsor", "children_with_fta", "whereabouts_unknown",
                 "in_absentia_orders"):
        assert total[name] > 0, name


def test_an_earlier_date_counts_only_what_was_recorded_by_then(store: Store) -> None:
    earlier = oversight(store.client, DATABASE, EARLIER)
    _assert_same(earlier, truth_from_events(store.events, EARLIER).as_dict())
    now = oversight(store.client, DATABASE, store.as_of)
    assert max(earlier["by_fy"]) == 2022 < max(now["by_fy"])
    for name in ("encounters", "transfers", "releases", "ftas", "nta_served"):
        assert earlier["total"][name] < now["total"][name], name
    # a past year's cohort still grows as its later events are recorded
    assert earlier["by_fy"][2021]["ftas"] < now["by_fy"][2021]["ftas"]
    assert earlier["by_fy"][2021]["encounters"] <= now["by_fy"][2021]["encounters"]


def test_child_facts_has_one_row_per_child_on_record(store: Store) -> None:
    query = (f"SELECT count(), uniqExact(child_id), sum(releases), countIf(age_bracket = 'UNKNOWN') "
             f"FROM {DATABASE}.child_facts(as_of = '2023-10-01 00:00:00')")
    rows, children, releases, unknown_age = store.client.query(query).result_rows[0]
    total = store.sim.delivered_truth.total()
    assert rows == children == total.encounters
    assert releases == total.releases and unknown_age == 0
    states = store.client.query(
        f"SELECT arrayJoin(release_states) AS s, count() FROM {DATABASE}.child_facts"
        f"(as_of = '2023-10-01 00:00:00') GROUP BY s").result_rows
    assert dict(states) == dict(total.release_states)


def _alert(alert_id: str, rule: str, change: str, status: str, fired_at: datetime, *, sequence: int,
           offset: int) -> list[Any]:
    return [alert_id, "SYN-CH-000000001", rule, change, status, "HIGH", fired_at, fired_at, "test",
            "e1", "test", sequence, True, 0, offset]


def test_alerts_by_rule_as_of_a_date(store: Store) -> None:
    t0 = datetime(2023, 3, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    rows = [
        _alert("a1", "TRANSFER_OVERDUE", "OPENED", "OPEN", t0, sequence=1, offset=0),
        _alert("a1", "TRANSFER_OVERDUE", "OPENED", "OPEN", t0, sequence=1, offset=1),          # a replayed duplicate
        _alert("a1", "TRANSFER_OVERDUE", "RESOLVED", "RESOLVED", t0 + 10 * h, sequence=2, offset=2),
        _alert("a2", "TRANSFER_OVERDUE", "OPENED", "OPEN", t0, sequence=1, offset=3),
        _alert("a2", "TRANSFER_OVERDUE", "ESCALATED", "OPEN", t0 + 5 * h, sequence=2, offset=4),
        _alert("a2", "TRANSFER_OVERDUE", "CANCELLED", "CANCELLED", t0 + 30 * h, sequence=3, offset=5),
        _alert("a3", "TRANSFER_OVERDUE", "OPENED", "OPEN", t0 + h, sequence=1, offset=6),
        _alert("a4", "LOST_CONTACT", "OPENED", "OPEN", t0, sequence=1, offset=7),
        _alert("a4", "LOST_CONTACT", "RETRACTED", "RETRACTED", t0 + 2 * h, sequence=2, offset=8),
        _alert("a5", "LOST_CONTACT", "OPENED", "OPEN", t0 + 100 * h, sequence=1, offset=9),
    ]
    columns = ["alert_id", "child_id", "rule", "change", "status", "severity", "deadline", "fired_at",
               "reason", "start_event_id", "basis", "sequence", "synthetic", "kafka_partition",
               "kafka_offset"]
    store.client.insert(f"{DATABASE}.alerts", rows, column_names=columns)
    try:
        later = {a["rule"]: a for a in oversight(store.client, DATABASE, t0 + 200 * h)["alerts"]}
        assert later["TRANSFER_OVERDUE"] == {
            "rule": "TRANSFER_OVERDUE", "opened": 3, "open": 1, "resolved": 1, "retracted": 0,
            "cancelled": 1, "closed": 2, "median_hours_to_close": 20.0, "p90_hours_to_close": 28.0}
        assert later["LOST_CONTACT"]["opened"] == 2 and later["LOST_CONTACT"]["open"] == 1
        assert later["LOST_CONTACT"]["retracted"] == 1
        assert later["LOST_CONTACT"]["median_hours_to_close"] is None
        meanwhile = {a["rule"]: a for a in oversight(store.client, DATABASE, t0 + 6 * h)["alerts"]}
        assert meanwhile["TRANSFER_OVERDUE"]["open"] == 3
        assert meanwhile["TRANSFER_OVERDUE"]["closed"] == 0
        assert meanwhile["LOST_CONTACT"]["opened"] == 1
        assert oversight(store.client, DATABASE, t0)["alerts"] == []
    finally:
        store.client.command(f"TRUNCATE TABLE {DATABASE}.alerts")


def test_repeated_notifications_count_once(store: Store) -> None:
    """A notifier killed after sending and before committing sends a notification again
    with the same id: the deduplicated view and the report count it once."""
    t0 = datetime(2023, 3, 1, tzinfo=UTC)
    sent = [("N1", "c1", "HHS", "FAILURE_TO_APPEAR"), ("N2", "c2", "HHS", "FAILURE_TO_APPEAR"),
            ("N3", "c2", "ICE", "UNAUTHORIZED_DEPARTURE"), ("N4", "c3", "HHS", "FAILURE_TO_APPEAR")]
    delivered = [*sent, sent[0], sent[0], sent[2]]  # N1 three times, N3 twice
    rows = [[nid, child, recipient, kind, f"F-{nid}", t0 + timedelta(hours=int(nid[1:])), "r", True, 0, offset]
            for offset, (nid, child, recipient, kind) in enumerate(delivered)]
    columns = ["notification_id", "child_id", "recipient", "kind", "fact_id", "occurred_at", "reason",
               "synthetic", "kafka_partition", "kafka_offset"]
    store.client.insert(f"{DATABASE}.notifications", rows, column_names=columns)
    try:
        assert store.client.query(f"SELECT count() FROM {DATABASE}.notifications").result_rows[0][0] == 7
        assert sorted(store.client.query(f"SELECT notification_id FROM {DATABASE}.notifications_distinct")
                      .result_rows) == [("N1",), ("N2",), ("N3",), ("N4",)]
        figures = oversight(store.client, DATABASE, t0 + timedelta(days=1))
        assert figures["notifications"] == [
            {"recipient": "HHS", "kind": "FAILURE_TO_APPEAR", "notifications": 3, "children": 3},
            {"recipient": "ICE", "kind": "UNAUTHORIZED_DEPARTURE", "notifications": 1, "children": 1}]
        text = render_report(figures)
        assert any(line.split() == ["HHS", "FAILURE_TO_APPEAR", "3", "3"] for line in text.splitlines())
        # as of a date, only what was sent before it
        assert oversight(store.client, DATABASE, t0 + timedelta(hours=2))["notifications"] == [
            {"recipient": "HHS", "kind": "FAILURE_TO_APPEAR", "notifications": 1, "children": 1}]
    finally:
        store.client.command(f"TRUNCATE TABLE {DATABASE}.notifications")


def test_the_text_report(store: Store) -> None:
    figures = oversight(store.client, DATABASE, store.as_of)
    text = render_report(figures)
    lines = text.splitlines()
    header = next(line for line in lines if "FY2019" in line)
    assert header.split() == ["FY2019", "FY2020", "FY2021", "FY2022", "FY2023", "Total", "Public", "figure"]
    bad = next(line for line in lines if line.startswith("  share of releases") and "6.9%" in line)
    share = figures["total"]["shares"]["bad_address_share"]
    assert f"{share * 100:.1f}%" in bad
    assert any("20-35%" in line for line in lines) and any("~65%" in line for line in lines)
    assert f"{figures['total']['encounters']:,}" in next(line for line in lines
                                                         if line.startswith("Children encountered"))
    assert "no alert opened" in text and "(none sent before the date)" in text


def test_run_report_prints_json_and_text(store: Store) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_report(store.settings, store.as_of, "json", out=out, err=err) == 0, err.getvalue()
    printed = json.loads(out.getvalue())
    expected = json.loads(json.dumps(oversight(store.client, DATABASE, store.as_of)))
    assert printed == expected
    out = io.StringIO()
    assert run_report(store.settings, store.as_of, "text", out=out, err=err) == 0
    assert out.getvalue().startswith("ucwatch oversight report as of 2023-10-01T00:00:00.000Z")
    assert run_report(store.settings, store.as_of, "xml", out=out, err=err) == 2
    assert "unknown report format" in err.getvalue()


def test_run_report_without_a_store(tmp_path: Path) -> None:
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": f"chdb://{tmp_path}/none",
                                      "UCWATCH_CLICKHOUSE_DATABASE": DATABASE})
    err = io.StringIO()
    assert run_report(settings, None, "text", out=io.StringIO(), err=err) == 3
    assert "no embedded ClickHouse store" in err.getvalue()
    assert not (tmp_path / "none").exists()


def test_run_report_before_the_migration(store: Store) -> None:
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": store.settings.clickhouse_dsn,
                                      "UCWATCH_CLICKHOUSE_DATABASE": "unmigrated"})
    store.client.command("CREATE DATABASE IF NOT EXISTS unmigrated")
    err = io.StringIO()
    assert run_report(settings, None, "json", out=io.StringIO(), err=err) == 1
    assert "run `ucwatch migrate`" in err.getvalue()


# --- the stored fold (migration V004) -----------------------------------------------------

FOLDED = "report_fold_test"


def _histories(client: Any, source: str, as_of: str) -> dict[str, tuple]:
    """Each child's history as a source gives it, duplicates dropped and arrays ordered."""
    demographics = ("first_age, first_birth_date, sex, country_of_birth" if source.endswith("child_histories")
                    else ", ".join(f"tupleElement(first_encounter, {i})" for i in range(1, 5)))
    query = (f"SELECT child_id, encountered_at, {demographics}, "
             f"transferred_at, released_at, last_released_at, arraySort(arrayDistinct(keys)), "
             f"arraySort(arrayDistinct(release_labels)) FROM {source}(as_of = '{as_of}')")
    return {row[0]: tuple(row[1:]) for row in client.query(query).result_rows}


def _fold_is_used(client: Any, database: str, as_of: str) -> bool:
    return bool(client.query(
        f"SELECT max(last_recorded_at) < toDateTime64('{as_of}', 3, 'UTC') "
        f"AND sum(rows) = (SELECT count() FROM {database}.events) "
        f"FROM {database}.child_event_states").result_rows[0][0])


def test_the_stored_fold_gives_the_figures_of_the_events(store: Store) -> None:
    """Events landed in many small blocks (a child's events over several parts of the fold),
    one block retried with its deduplication token: the report as of now reads the fold and
    equals both the raw path and the delivered truth; a fold that misses rows is not read."""
    from tests.helpers import simulated_record
    from ucwatch.sinks.rows import EVENTS

    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": store.settings.clickhouse_dsn,
                                      "UCWATCH_CLICKHOUSE_DATABASE": FOLDED})
    client = store.client
    migrate(client, settings)
    try:
        rows = [[*EVENTS.to_row(simulated_record(e)), 0, offset] for offset, e in enumerate(store.events)]
        step = 4000
        for start in range(0, len(rows), step):
            client.insert(f"{FOLDED}.events", rows[start:start + step], column_names=list(EVENTS.columns),
                          settings={"insert_deduplication_token": f"test:{start}"})
        # a retried block: dropped by events, so not folded twice
        client.insert(f"{FOLDED}.events", rows[:step], column_names=list(EVENTS.columns),
                      settings={"insert_deduplication_token": "test:0"})
        assert client.query(f"SELECT count() FROM {FOLDED}.events").result_rows[0][0] == len(rows)
        parts = client.query(f"SELECT count() FROM system.parts WHERE database = '{FOLDED}' AND active "
                             f"AND table = 'child_event_states'").result_rows[0][0]
        assert parts > 1
        now = f"{store.as_of:%Y-%m-%d %H:%M:%S}"
        assert _fold_is_used(client, FOLDED, now)
        assert not _fold_is_used(client, FOLDED, f"{EARLIER:%Y-%m-%d %H:%M:%S}")
        assert _histories(client, f"{FOLDED}.child_histories", now) \
            == _histories(client, f"{FOLDED}.event_histories", now)
        figures = oversight(client, FOLDED, store.as_of)
        _assert_same(figures, store.sim.delivered_truth.as_dict())
        assert figures["by_fy"] == oversight(client, DATABASE, store.as_of)["by_fy"]
        # a fold that does not hold as many rows as events is not read
        client.command(f"INSERT INTO {FOLDED}.child_event_states (child_id, rows, encountered_at) "
                       f"VALUES ('SYN-CH-999999999', 1, '2021-01-01 00:00:00')")
        assert not _fold_is_used(client, FOLDED, now)
        _assert_same(oversight(client, FOLDED, store.as_of), store.sim.delivered_truth.as_dict())
    finally:
        client.command(f"DROP DATABASE IF EXISTS {FOLDED}")
