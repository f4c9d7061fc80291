"""`ucwatch report`: the oversight figures as of a date, by fiscal year of encounter.

    figures = oversight(client, "ucwatch", datetime(2023, 10, 1, tzinfo=timezone.utc))
    print(render_report(figures))

"As of" a date means known by then: only events recorded before it count (each event_id
once), so a report for a past date does not change when late records land afterwards.
The figures come from the parameterized views of sinks/migrations/V003__oversight.sql
(`oversight_by_fy`, `alerts_by_rule`) and V005 (`notifications_by_kind`, which counts each
notification once however often it was delivered); they carry the names and the definitions of the
simulator's ground truth (producers/simulate/truth.py, `CohortTruth.as_dict()`), so a
simulated history landed in ClickHouse reproduces `Simulation.delivered_truth` exactly.
The demographic counters of the truth (release states, age brackets, sexes, countries)
are not part of the report.

`figures` is ``{"as_of", "database", "by_fy": {fy: cohort}, "total": cohort, "alerts":
[by rule], "notifications": [by recipient and kind]}``, each cohort holding the counts,
``case_outcomes`` and ``shares`` (rounded to 4 places, as in the truth).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from clickhouse_connect.driver.client import Client

from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import MISSING_OBJECT_CODES, ClickHouseError, ClickHouseUnavailable, StoreInUse

OK, REFUSED, USAGE, UNAVAILABLE = 0, 1, 2, 3
FORMATS = ("text", "json")
HOUR_MS = 3_600_000

COUNTS = (
    "encounters", "referrals_late", "transfers", "transfers_over_72h", "dhs_custody_ms",
    "releases", "bad_release_addresses", "discharge_notices_late", "discharge_notices_missing",
    "unauthorized_departures", "wellbeing_due", "wellbeing_reached", "wellbeing_unreachable",
    "wellbeing_not_attempted", "lost_contact", "not_with_sponsor", "nta_served", "nta_not_served",
    "ftas", "children_with_fta", "whereabouts_unknown", "in_absentia_orders")
"""The counts of a cohort, named as in CohortTruth."""

SHARES: dict[str, tuple[str, str]] = {
    "share_over_72h": ("transfers_over_72h", "transfers"),
    "mean_dhs_custody_hours": ("dhs_custody_ms", "transfers"),
    "bad_address_share": ("bad_release_addresses", "releases"),
    "unreachable_share": ("wellbeing_unreachable", "wellbeing_due"),
    "nta_not_served_share": ("nta_not_served", "releases"),
    "fta_share_of_served": ("children_with_fta", "nta_served"),
}
"""Each share (or mean) and its (part, whole); 0 when the whole is 0, as in CohortTruth."""

ALERT_COUNTS = ("opened", "open", "resolved", "retracted", "cancelled", "closed")

Rows = Callable[[str], list[dict[str, Any]]]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- the figures --------------------------------------------------------------------------

def oversight(client: Client, database: str, as_of: datetime) -> dict[str, Any]:
    """The figures as of `as_of` (aware; events recorded before it), through `client`."""
    return oversight_from(lambda query: list(client.query(query).named_results()), database, as_of)


def oversight_from(rows: Rows, database: str, as_of: datetime) -> dict[str, Any]:
    """`oversight` over any way of running a query that returns rows as dicts (values may
    be ClickHouse's JSON text for 64-bit integers)."""
    if not _IDENTIFIER.fullmatch(database):
        raise ClickHouseError(f"database name {database!r} is not a plain identifier")
    at = _utc(as_of)
    literal = f"'{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}'"
    by_fy = {int(row["fy"]): _cohort(row)
             for row in rows(f"SELECT * FROM {database}.oversight_by_fy(as_of = {literal}) ORDER BY fy")}
    alerts = [_alert(row)
              for row in rows(f"SELECT * FROM {database}.alerts_by_rule(as_of = {literal}) ORDER BY rule")]
    notifications = [
        {"recipient": str(row["recipient"]), "kind": str(row["kind"]), "notifications": int(row["notifications"]),
         "children": int(row["children"])}
        for row in rows(f"SELECT * FROM {database}.notifications_by_kind(as_of = {literal}) "
                        "ORDER BY recipient, kind")]
    return {"as_of": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "database": database, "by_fy": by_fy, "total": total(by_fy.values()), "alerts": alerts,
            "notifications": notifications}


def total(cohorts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of cohorts, shares recomputed."""
    counts = dict.fromkeys(COUNTS, 0)
    outcomes: Counter[str] = Counter()
    for cohort in cohorts:
        for name in COUNTS:
            counts[name] += cohort[name]
        outcomes.update(cohort["case_outcomes"])
    return _with_shares(counts, outcomes)


def _cohort(row: dict[str, Any]) -> dict[str, Any]:
    outcomes = row["case_outcomes"] or {}
    return _with_shares({name: int(row[name]) for name in COUNTS},
                        Counter({str(k): int(v) for k, v in outcomes.items()}))


def _with_shares(counts: dict[str, int], outcomes: Counter[str]) -> dict[str, Any]:
    cohort: dict[str, Any] = dict(counts)
    cohort["case_outcomes"] = dict(sorted(outcomes.items()))
    shares = {}
    for name, (part, whole) in SHARES.items():
        numerator = counts[part] / HOUR_MS if name == "mean_dhs_custody_hours" else counts[part]
        shares[name] = round(numerator / counts[whole], 4) if counts[whole] else 0.0
    cohort["shares"] = shares
    return cohort


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    alert: dict[str, Any] = {"rule": str(row["rule"])}
    alert.update({name: int(row[name]) for name in ALERT_COUNTS})
    for name in ("median_hours_to_close", "p90_hours_to_close"):
        value = row[name]
        alert[name] = None if value is None else round(float(value), 2)
    return alert


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


# --- the text report ----------------------------------------------------------------------

# (label, figure, kind, the public figure it compares with: domain.md "Calibration
# figures"); kind "count", "pct" (a share), "hours" (a mean), or "" for a section title.
_LINES: tuple[tuple[str, str, str, str], ...] = (
    ("DHS custody", "", "", ""),
    ("Children encountered", "encounters", "count", "455,442 ORR referrals FY19-23"),
    ("HHS notified after 48 h", "referrals_late", "count", ""),
    ("Transferred to HHS", "transfers", "count", ">448,000 FY19-23 (OIG-24-46)"),
    ("Transferred after 72 h", "transfers_over_72h", "count", ""),
    ("  share of transfers", "share_over_72h", "pct", "limit 72 h (8 USC 1232(b)(3))"),
    ("Mean hours in DHS custody", "mean_dhs_custody_hours", "hours", "< 72; ~122 in Apr 2021"),
    ("HHS care and release", "", "", ""),
    ("Unauthorized departures", "unauthorized_departures", "count", ""),
    ("Releases to a sponsor", "releases", "count", ""),
    ("Bad release address", "bad_release_addresses", "count", ">31,000 (OIG-25-21)"),
    ("  share of releases", "bad_address_share", "pct", "6.9% (OIG-25-21)"),
    ("Discharge notice late (> 24 h)", "discharge_notices_late", "count", ""),
    ("Discharge notice missing", "discharge_notices_missing", "count", ""),
    ("30-day call (by day 37)", "", "", ""),
    ("Due", "wellbeing_due", "count", ""),
    ("Reached child or sponsor", "wellbeing_reached", "count", ""),
    ("Unreachable", "wellbeing_unreachable", "count", ""),
    ("Not attempted", "wellbeing_not_attempted", "count", ""),
    ("  unreachable share of due", "unreachable_share", "pct", "20-35% (19% 2017, 33.5% 2021)"),
    ("Lost contact (3 calls, no contact)", "lost_contact", "count", ""),
    ("Not with sponsor / safety concern", "not_with_sponsor", "count", ""),
    ("Immigration court", "", "", ""),
    ("NTA served (children)", "nta_served", "count", ""),
    ("Released, NTA not served", "nta_not_served", "count", "~291k May 2024, ~233k Jan 2025"),
    ("  share of releases", "nta_not_served_share", "pct", "~65% (May 2024)"),
    ("Failures to appear (events)", "ftas", "count", ""),
    ("Children with an FTA", "children_with_fta", "count", "~32,000 FY19-23 (OIG-24-46)"),
    ("  share of children served", "fta_share_of_served", "pct", "~20% (OIG-25-21)"),
    ("Whereabouts unknown after FTA", "whereabouts_unknown", "count", ""),
    ("In absentia orders", "in_absentia_orders", "count", ""),
)
_LABEL_WIDTH = 36
_COLUMN_WIDTH = 10


def render_report(figures: dict[str, Any]) -> str:
    """The figures as plain text: one column per fiscal year and the total, shares as
    percentages, the public calibration figure (domain.md) beside each where there is one."""
    years = sorted(figures["by_fy"])
    cohorts = [figures["by_fy"][fy] for fy in years] + [figures["total"]]
    heads = [f"FY{fy}" for fy in years] + ["Total"]
    out = [f"ucwatch oversight report as of {figures['as_of']} (events recorded before then, "
           f"database {figures['database']})",
           "Children by fiscal year of encounter (October-September).", ""]
    header = " " * _LABEL_WIDTH + "".join(f"{h:>{_COLUMN_WIDTH}}" for h in heads) + "  Public figure"
    out.append(header)
    for label, name, kind, reference in _LINES:
        if not kind:
            out.append("")
            out.append(label)
            continue
        values = [_cell(cohort, name, kind) for cohort in cohorts]
        out.append(_row(label, values, reference))
    outcomes = sorted({outcome for cohort in cohorts for outcome in cohort["case_outcomes"]})
    if outcomes:
        out.append("Cases closed, by outcome")
        for outcome in outcomes:
            out.append(_row(f"  {outcome.lower().replace('_', ' ')}",
                            [f"{cohort['case_outcomes'].get(outcome, 0):,}" for cohort in cohorts], ""))
    out += ["", "Alerts by rule (changes fired before the date; hours from opening to closing, "
            "over resolved and cancelled alerts)"]
    if figures["alerts"]:
        names = ("opened", "open", "resolved", "retracted", "cancelled", "median h", "p90 h")
        out.append(f"{'rule':<28}" + "".join(f"{n:>10}" for n in names))
        for alert in figures["alerts"]:
            cells = [f"{alert[n]:,}" for n in ("opened", "open", "resolved", "retracted", "cancelled")]
            cells += ["-" if alert[n] is None else f"{alert[n]:,.1f}"
                      for n in ("median_hours_to_close", "p90_hours_to_close")]
            out.append(f"{alert['rule']:<28}" + "".join(f"{c:>10}" for c in cells))
    else:
        out.append("  (no alert opened before the date)")
    out += ["", "Notifications ucwatch sent before the date (each notification once)"]
    if figures["notifications"]:
        out.append(f"{'recipient':<12}{'kind':<28}{'notifications':>14}{'children':>10}")
        for sent in figures["notifications"]:
            out.append(f"{sent['recipient']:<12}{sent['kind']:<28}{sent['notifications']:>14,}{sent['children']:>10,}")
    else:
        out.append("  (none sent before the date)")
    return "\n".join(out) + "\n"


def _cell(cohort: dict[str, Any], name: str, kind: str) -> str:
    if kind == "count":
        return f"{cohort[name]:,}"
    value = cohort["shares"][name]
    return f"{value * 100:.1f}%" if kind == "pct" else f"{value:,.1f}"


def _row(label: str, values: list[str], reference: str) -> str:
    line = f"{label:<{_LABEL_WIDTH}}" + "".join(f"{v:>{_COLUMN_WIDTH}}" for v in values)
    return f"{line}  {reference}" if reference else line


# --- the command --------------------------------------------------------------------------

def run_report(settings: Settings, as_of: datetime | None, fmt: str, *,
               out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`ucwatch report`: prints the figures as of `as_of` (default now, UTC) as text or JSON.

    Reads as an analyst: through the query service of the sink when it holds the embedded
    store, else on an analyst connection (`connect(settings, "analyst")`, read-only).
    Returns 0, 1 (ClickHouse refused: e.g. the migrations are not applied), 2 (usage) or 3
    (ClickHouse unavailable).
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if fmt not in FORMATS:
        print(f"ucwatch: error: unknown report format {fmt!r}; one of {', '.join(FORMATS)}", file=err)
        return USAGE
    if as_of is None:
        as_of = datetime.now(UTC)
    elif as_of.tzinfo is None:
        print("ucwatch: error: --as-of must carry a timezone (UTC)", file=err)
        return USAGE
    try:
        figures = oversight_from(_analyst_rows(settings), settings.clickhouse.database, as_of)
    except (ClickHouseUnavailable, StoreInUse) as exc:
        print(f"ucwatch: error: {exc}", file=err)
        return UNAVAILABLE
    except ClickHouseError as exc:
        print(f"ucwatch: error: {exc}", file=err)
        if exc.code in MISSING_OBJECT_CODES:
            print("ucwatch: the report reads the views of migrations V003 and V005: run `ucwatch migrate`",
                  file=err)
        return REFUSED
    if fmt == "json":
        out.write(json.dumps(figures, indent=2) + "\n")
    else:
        out.write(render_report(figures))
    out.flush()
    return OK


def _analyst_rows(settings: Settings) -> Rows:
    """Runs a query the way `ucwatch sql` does (query service or analyst connection)."""
    from ucwatch.analysts.sql import query_output

    def rows(query: str) -> list[dict[str, Any]]:
        data = query_output(settings, query, "json")
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]

    return rows
