"""Alerts held PENDING are listed on their own (`/?status=pending`, linked from their count
above the queue): rule, child, deadline, since when and for which feed they wait, and no
action that would open them by hand (issue 11, item 2: "visible as such to the console")."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from starlette.testclient import TestClient

from tests.unit.console.support import T0, change, console
from tests.unit.console.test_web import login
from ucwatch.console.fold import AlertChange, ConsoleState
from ucwatch.console.pending import awaited_source, pending_since
from ucwatch.console.queue import QueueFilter, queue_page
from ucwatch.console.routes import build_app
from ucwatch.streams.policy import Feeds, Outage
from ucwatch.streams.watermarks import PartitionMarks

A, B, C = "SYN-CH-000000001", "SYN-CH-000000002", "SYN-CH-000000003"
DAY_MS = 86_400_000
T0_MS = int(T0.timestamp() * 1000)


def engine_reasons() -> tuple[str, str]:
    """The detector's own reasons for holding an alert: a watermark short of the deadline,
    and a known outage covering it."""
    marks = PartitionMarks(Feeds(outages=(Outage("EOIR", T0_MS - 5 * DAY_MS, T0_MS + DAY_MS, "court closure"),)))
    marks.declare("ORR", T0_MS - 3 * DAY_MS, T0_MS)
    short = marks.hold(("ORR",), T0_MS - DAY_MS, T0_MS)
    outage = marks.hold(("EOIR",), T0_MS - DAY_MS, T0_MS)
    assert short is not None and outage is not None
    return short[0], outage[0]


def held(alert_id: str, *, severity: str, child_id: str, days_overdue: int, reason: str, sequence: int = 1,
         rule: str = "HEARING_OUTCOME_MISSING") -> AlertChange:
    deadline = T0 - timedelta(days=days_overdue)
    return replace(change(alert_id, sequence, change="PENDING", status="PENDING", severity=severity, rule=rule,
                          child_id=child_id, fired_at=deadline), deadline=deadline, reason=reason)


def state() -> ConsoleState:
    short, outage = engine_reasons()
    alerts = ConsoleState()
    alerts.apply_alert(change("open", rule="LOST_CONTACT", severity="HIGH", child_id=A))
    alerts.apply_alert(held("h-medium", severity="MEDIUM", child_id=A, days_overdue=9, reason=short))
    alerts.apply_alert(held("h-high-new", severity="HIGH", child_id=B, days_overdue=1, reason=outage,
                            rule="DISCHARGE_NOTICE_OVERDUE"))
    alerts.apply_alert(held("h-high-old", severity="HIGH", child_id=C, days_overdue=4, reason=short))
    return alerts


def test_the_pending_list_holds_only_pending_alerts_most_severe_and_longest_overdue_first() -> None:
    alerts = state()
    page = queue_page(alerts, QueueFilter(status="pending"), T0, 50)
    assert [row.entry.alert_id for row in page.rows] == ["h-high-old", "h-high-new", "h-medium"]
    assert page.counts == {"CRITICAL": 0, "HIGH": 2, "MEDIUM": 1, "LOW": 0} and page.pending == 3
    assert [row.entry.alert_id for row in queue_page(alerts, QueueFilter(), T0, 50).rows] == ["open"]
    filtered = queue_page(alerts, QueueFilter(status="pending", rule="DISCHARGE_NOTICE_OVERDUE"), T0, 50)
    assert [row.entry.alert_id for row in filtered.rows] == ["h-high-new"]
    # Once it opens, it leaves the pending list for the queue.
    alerts.apply_alert(change("h-medium", 2, severity="MEDIUM", child_id=A, fired_at=T0 - timedelta(days=9)))
    assert "h-medium" not in [r.entry.alert_id for r in queue_page(alerts, QueueFilter(status="pending"), T0, 50).rows]
    assert "h-medium" in [r.entry.alert_id for r in queue_page(alerts, QueueFilter(), T0, 50).rows]


def test_the_status_filter_from_the_query_string() -> None:
    assert QueueFilter.from_query({"status": "pending"}).status == "pending"
    assert QueueFilter.from_query({}).status == "open"
    assert QueueFilter.from_query({"status": "RETRACTED"}).status == "open"


def test_the_awaited_feed_is_read_from_the_engines_reason() -> None:
    short, outage = engine_reasons()
    assert short.startswith("pending: ORR complete up to ") and awaited_source(short) == "ORR"
    assert outage.startswith("held: court closure (EOIR until ") and awaited_source(outage) == "EOIR"
    assert awaited_source("three calls without contact") is None


def test_pending_since_is_the_change_that_began_the_current_wait() -> None:
    alerts = state()
    entry = alerts.alert("h-medium")
    assert entry is not None and pending_since(entry) == T0 - timedelta(days=9)
    alerts.apply_alert(replace(change("h-medium", 2, change="PENDING", status="PENDING", severity="MEDIUM",
                                      child_id=A, fired_at=T0 - timedelta(days=2))))
    assert pending_since(entry) == T0 - timedelta(days=9)  # still the same wait


def test_the_page_lists_them_with_their_feed_and_offers_no_action(tmp_path: Path) -> None:
    made, outbox = console(tmp_path)
    made.state = state()
    http = TestClient(build_app(made), base_url="http://127.0.0.1", follow_redirects=False)
    login(http, "supervisor")  # the role that may do most
    queue = http.get("/").text
    link = re.search(r'<a id="pending" href="([^"]+)"', queue)
    assert link is not None and "3 pending" in queue and link.group(1) == "/?status=pending&amp;severity="
    page = http.get("/?status=pending")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-alert-id="([^"]+)" class="pending">(.*?)</tr>', page.text, re.DOTALL)
    assert [alert_id for alert_id, _ in rows] == ["h-high-old", "h-high-new", "h-medium"]
    cells = dict(rows)
    assert "DISCHARGE_NOTICE_OVERDUE" in cells["h-high-new"] and f'href="/children/{B}"' in cells["h-high-new"]
    assert "<b>EOIR</b>" in cells["h-high-new"] and "court closure" in cells["h-high-new"]
    assert "<b>ORR</b>" in cells["h-high-old"] and "overdue 4 d" in cells["h-high-old"]
    assert (T0 - timedelta(days=4)).strftime("%Y-%m-%d %H:%M") in cells["h-high-old"]
    assert 'data-alert-id="open"' not in page.text  # the open alert is in the queue, not here
    assert "/actions/" not in page.text and "<button" not in page.text.split('class="filters"')[1].split(
        "</form>", 1)[1]  # no form acts on them (the filters' button is the only one)
    assert outbox.audits[-1]["action"] == "console_view_queue" and outbox.audits[-1]["filters"]["status"] == "pending"
    fragment = http.get("/queue/fragment?status=pending")
    assert fragment.status_code == 200 and 'class="pending"' in fragment.text
    # Its own page shows it pending and offers nothing that would open it.
    alert = http.get("/alerts/h-high-new").text
    for button in ("act-acknowledge", "act-assign", "act-snooze", "act-close"):
        assert button not in alert
    assert "not open, so nothing to acknowledge yet" in alert and "HHS must act if it opens" in alert
