"""``GET /dashboard``: the pictures. Open alerts by severity and by rule over time, hours
to acknowledge and to resolve by rule, notices sent by agency (by delivery outcome), and
the oversight report's main figures by fiscal year.

The first three come from the console's state (`console.stats`, cached per state
version: the sweep over every alert runs once per change, not once per view); the
report's figures from ClickHouse by the analysts' read-only path (`console.oversight`),
with a note instead when it cannot be asked. Charts are SVG drawn here (`console.charts`).
Any role may look; the view is audit-logged (aggregates only, no child's records).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ucwatch.console.charts import SEVERITY_COLOURS, Series, bar_chart, hbar_chart, line_chart
from ucwatch.console.context import Console
from ucwatch.console.pages import audit_view
from ucwatch.console.stats import OpenOverTime, RuleTimes, open_over_time, times_by_rule
from ucwatch.console.web import console_of, render, session_of, to_login

FIGURES = (("encounters", "Encountered"), ("releases", "Released to a sponsor"),
           ("nta_not_served", "Released, NTA not served"), ("children_with_fta", "Children with an FTA"),
           ("whereabouts_unknown", "Whereabouts unknown"))
"""The report's main counts, charted by fiscal year (names as in `analysts.report.COUNTS`)."""
SHARES = (("bad_address_share", "Bad release address"), ("unreachable_share", "30-day call unreachable"),
          ("nta_not_served_share", "NTA not served"), ("fta_share_of_served", "FTA, of those served"))
DELIVERY_COLOURS = {"DELIVERED": "#1a7f37", "FAILED": "#b98900", "PENDING": "#98a2b3", "GAVE_UP": "#b42318"}


async def dashboard(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    denied = await audit_view(request, session, "console_view_dashboard", None)
    if denied is not None:
        return denied
    console = console_of(request)
    console.metrics.page_views.labels("dashboard").inc()
    over_time, times = _state_figures(console)
    with console.lock:
        notices = console.children.notices_by_recipient()
    oversight = await run_in_threadpool(console.oversight)
    return render(request, "dashboard.html", charts=_charts(over_time, times, notices), times=times,
                  oversight=oversight, oversight_charts=_oversight_charts(oversight.figures),
                  figures=FIGURES)


def _state_figures(console: Console) -> tuple[OpenOverTime, list[RuleTimes]]:
    with console.lock:
        version = console.state.version
        kept = console.cache.get("dashboard")
        if kept is not None and kept[0] == version:
            return kept[1], kept[2]
        over_time, times = open_over_time(console.state), times_by_rule(console.state)
        console.cache["dashboard"] = (version, over_time, times)
    return over_time, times


def _charts(over_time: OpenOverTime, times: list[RuleTimes], notices: dict[str, Any]) -> dict[str, Markup]:
    by_severity = [Series(s.lower(), values, SEVERITY_COLOURS[s]) for s, values in over_time.by_severity.items()]
    by_rule = [Series(rule, values) for rule, values in over_time.by_rule.items()]
    acknowledged = [t for t in times if t.acknowledged]
    unit_name, unit, per_hour = duration_unit([t.ack_p90_h or 0.0 for t in acknowledged])
    ack_median = [(t.ack_median_h or 0.0) * per_hour for t in acknowledged]
    ack_p90 = [(t.ack_p90_h or 0.0) * per_hour for t in acknowledged]
    resolved = [t for t in times if t.resolved]
    recipients = sorted(notices)
    outcomes = [o for o in DELIVERY_COLOURS if any(notices[r].get(o) for r in recipients)]
    delivered = [Series(o.lower().replace("_", " "), [notices[r].get(o, 0) for r in recipients], DELIVERY_COLOURS[o])
                 for o in outcomes]
    return {
        "severity": bar_chart(over_time.labels, by_severity, stacked=True, width=1300,
                              title="Open alerts by severity (at the end of each period, event time)"),
        "rule": line_chart(over_time.labels, by_rule, width=1300, title="Open alerts by rule (event time)"),
        "acknowledge": hbar_chart([t.rule for t in acknowledged],
                                  [Series("median", ack_median, "#1f5fbf"),
                                   Series("90th percentile", ack_p90, "#98a2b3")],
                                  title=f"{unit_name} to acknowledge, by rule (wall clock)", unit=f" {unit}",
                                  width=440),
        "resolve": hbar_chart([t.rule for t in resolved],
                              [Series("median", [t.resolve_median_h and t.resolve_median_h / 24 for t in resolved],
                                      "#1a7f37"),
                               Series("90th percentile", [t.resolve_p90_h and t.resolve_p90_h / 24 for t in resolved],
                                      "#98a2b3")],
                              title="Days to resolve, by rule (event time)", unit=" d", width=440),
        "notices": bar_chart(recipients, delivered,
                             stacked=True, width=440, title="Notices sent, by agency and delivery"),
    }


def duration_unit(hours: list[float]) -> tuple[str, str, float]:
    """(name, symbol, how many in an hour) of the largest of hours, minutes and seconds in
    which the longest of `hours` is at least 1: acknowledging in seconds is not "0.0 h"."""
    longest = max(hours, default=1.0)  # nothing acknowledged yet: hours, the usual unit
    for name, symbol, per_hour in (("Hours", "h", 1.0), ("Minutes", "min", 60.0)):
        if longest * per_hour >= 1:
            return name, symbol, per_hour
    return "Seconds", "s", 3600.0


def _oversight_charts(figures: dict[str, Any] | None) -> dict[str, Markup]:
    if not figures or not figures["by_fy"]:
        return {}
    years = sorted(figures["by_fy"], key=int)
    labels = [f"FY{fy}" for fy in years]
    counts = [Series(label, [figures["by_fy"][fy][name] for fy in years]) for name, label in FIGURES]
    shares = [Series(label, [figures["by_fy"][fy]["shares"][name] * 100 for fy in years]) for name, label in SHARES]
    return {"counts": bar_chart(labels, counts, width=1300, height=300, label_every=1,
                                title="Children by fiscal year of encounter"),
            "shares": line_chart(labels, shares, width=1300, unit="%", label_every=1,
                                 title="Shares by fiscal year (per cent)")}
