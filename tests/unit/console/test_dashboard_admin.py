"""The dashboard, the admin page, /metrics and the child's notices, over HTTP with fakes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from starlette.testclient import TestClient

from tests.unit.console.support import CHILD, T0, RecordingOutbox, action, change, console
from tests.unit.console.test_web import client, csrf_of, login
from ucwatch.console.actions import ActionKind
from ucwatch.console.audit_trail import AuditFilter, AuditPage, page_of
from ucwatch.console.children import Delivery, Notice, Snapshot
from ucwatch.console.context import Console
from ucwatch.console.oversight import CachedOversight, Oversight
from ucwatch.console.server import run_console
from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import ConsoleSettings, Settings

COHORT = {"encounters": 1200, "releases": 900, "nta_not_served": 600, "children_with_fta": 80,
          "whereabouts_unknown": 30,
          "shares": {"bad_address_share": 0.069, "unreachable_share": 0.25, "nta_not_served_share": 0.66,
                     "fta_share_of_served": 0.2}}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Console, RecordingOutbox]:
    made, outbox = console(tmp_path)
    made.state.apply_alert(replace(change("a1"), arrived_at=T0 - timedelta(hours=1)))
    made.state.apply_alert(change("a2", rule="NTA_NOT_SERVED", severity="MEDIUM", fired_at=T0 - timedelta(days=40)))
    made.state.apply_alert(change("a2", 2, change="RESOLVED", status="RESOLVED", fired_at=T0 - timedelta(days=10),
                                  rule="NTA_NOT_SERVED"))
    made.children.apply_notice(Notice(notification_id="n1", child_id=CHILD, recipient="HHS",
                                      kind="FAILURE_TO_APPEAR", fact_id="e1", occurred_at=T0, reason="FTA"))
    made.children.apply_delivery(Delivery("n1", "hhs.webhook", "WEBHOOK", 2, "DELIVERED", 200, "200 OK", T0))
    made.children.apply_snapshot(CHILD, Snapshot("RELEASED_TO_SPONSOR", "UNREACHABLE", "HEARING_SCHEDULED",
                                                 T0 + timedelta(days=20), None, T0, "TX"))
    return made, outbox


def test_the_dashboard_draws_every_chart_and_the_reports_figures(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    made.state.apply_action(action(ActionKind.ACKNOWLEDGED, "a1"))  # at T0: an hour after the alert arrived
    made.oversight = lambda: Oversight({"as_of": "2024-05-01T12:00:00.000Z", "by_fy": {2021: COHORT, 2022: COHORT},
                                        "total": {**COHORT, "encounters": 2400}})
    http = client(made)
    login(http, "analyst")  # any role may look
    page = http.get("/dashboard")
    assert page.status_code == 200
    for chart in ("chart-severity", "chart-rule", "chart-acknowledge", "chart-resolve", "chart-notices",
                  "chart-oversight", "chart-shares"):
        assert re.search(f'id="{chart}">\\s*<svg', page.text), chart
    assert "FY2021" in page.text and "2,400" in page.text and "oversight-unavailable" not in page.text
    assert "Hours to acknowledge" in page.text and "<title>LOST_CONTACT, median: 1 h</title>" in page.text
    assert "<title>NTA_NOT_SERVED, median: 30 d</title>" in page.text  # resolved 30 days after opening
    assert "<title>HHS, delivered: 1</title>" in page.text
    assert outbox.audits[-1]["action"] == "console_view_dashboard" and outbox.audits[-1]["child_id"] is None


def test_the_dashboard_says_when_clickhouse_cannot_be_asked(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    made.oversight = lambda: Oversight(None, "no sink is serving queries on the embedded ClickHouse store")
    http = client(made)
    login(http, "operator")
    page = http.get("/dashboard")
    assert page.status_code == 200 and 'id="oversight-unavailable"' in page.text
    assert "no sink is serving queries" in page.text and 'id="chart-severity"' in page.text


def test_cached_oversight_keeps_successes_only() -> None:
    calls: list[int] = []
    answers = [Oversight(None, "down"), Oversight({"by_fy": {}}), Oversight({"by_fy": {1: 1}})]
    now = [0.0]

    def fetch() -> Oversight:
        calls.append(1)
        return answers[len(calls) - 1]
    cached = CachedOversight(fetch, ttl_s=60, clock=lambda: now[0])
    assert cached().unavailable == "down"
    assert cached().figures == {"by_fy": {}}
    assert cached().figures == {"by_fy": {}} and len(calls) == 2
    now[0] = 61.0
    assert cached().figures == {"by_fy": {1: 1}}


def test_the_admin_page_is_for_admins_only_and_reads_the_trail_with_its_filters(
        built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    asked: list[AuditFilter] = []

    def trail(wanted: AuditFilter) -> AuditPage:
        asked.append(wanted)
        rows = [{"at": "2024-05-01 12:00:00.000", "actor": "olivia", "role": "operator", "via": "console",
                 "action": "console_acknowledged", "child_id": CHILD, "alert_id": "a1" * 16, "action_id": "x",
                 "os_user": "ops", "host": "h", "details": json.dumps({"path": "/alerts/a1"})}] * 3
        return page_of(rows, ["console_acknowledged", "console_login"], wanted.page, page_size=2)
    made.audit = trail
    for role in ("operator", "supervisor", "analyst"):
        http = client(made)
        login(http, role)
        assert http.get("/admin").status_code == 403
        assert 'href="/admin"' not in http.get("/").text
    assert asked == []  # refused before anything is read
    http = client(made)
    login(http, "admin")
    page = http.get(f"/admin?actor=olivia&child={CHILD}&action=console_acknowledged&page=2")
    assert page.status_code == 200 and 'href="/admin"' in page.text
    assert asked == [AuditFilter(actor="olivia", child=CHILD, action="console_acknowledged", page=2)]
    users = page.text[page.text.index('id="users"'):page.text.index('id="audit"')]
    assert all(role in users for role in ("operator", "supervisor", "analyst", "admin"))
    audit = page.text[page.text.index('<table id="audit"'):]
    assert audit.count("console_acknowledged</td>") == 2 and "olivia" in audit and "path /alerts/a1" in audit
    assert f"/admin?actor=olivia&amp;child={CHILD}&amp;action=console_acknowledged&amp;page=3" in page.text
    assert "page=1" in page.text  # newer
    assert outbox.audits[-1]["action"] == "console_view_admin" and outbox.audits[-1]["actor"] == "admin"
    assert outbox.audits[-1]["child_id"] == CHILD and outbox.audits[-1]["filters"]["actor"] == "olivia"

    page = http.get("/admin?actor=x%27%20OR%201%3D1&child=Robert")
    assert asked[-1] == AuditFilter(dropped=("actor", "child"))
    assert "Not applied (not a valid value): actor, child" in page.text


def test_the_admin_page_says_when_the_trail_cannot_be_read(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    made.audit = lambda wanted: AuditPage(unavailable="no sink is serving queries on the embedded ClickHouse store")
    http = client(made)
    login(http, "admin")
    page = http.get("/admin")
    assert page.status_code == 200 and 'id="audit-unavailable"' in page.text and '<table id="audit"' not in page.text


def test_metrics_count_pages_and_actions(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    login(http, "operator")
    http.get("/")
    token = csrf_of(http.get("/alerts/a1").text)
    assert http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token}).status_code == 303
    # Served on the metrics port (console/server.py, through ucwatch.core.health), not by the pages.
    assert TestClient(client(made).app).get("/metrics").status_code == 404
    text = generate_latest(made.metrics.registry).decode()
    assert 'ucwatch_console_page_views_total{page="queue"} 1.0' in text
    assert 'ucwatch_console_page_views_total{page="alert"} 1.0' in text
    assert 'ucwatch_console_actions_total{action="ACKNOWLEDGED"} 1.0' in text
    assert "ucwatch_console_sse_clients 0.0" in text


def test_the_childs_page_shows_notices_delivery_and_the_snapshot(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    login(http, "operator")
    page = http.get(f"/children/{CHILD}").text
    notices = page[page.index('id="notices"'):]
    assert "failure to appear" in notices and "to HHS" in notices and "delivered" in notices
    assert "hhs.webhook: delivered, attempt 2 (200)" in notices
    assert re.search(r'id="contact-status">unreachable<', page)
    assert re.search(r'id="custody-status">released to sponsor<', page)
    assert 'id="next-hearing">2024-05-21 12:00 UTC<' in page
    assert 'id="release-state">TX<' in page
    timeline = page[page.index('id="timeline"'):]
    assert "FAILURE_TO_APPEAR to HHS" in timeline and "delivery: delivered" in timeline


def test_the_queue_shows_agency_custody_and_filters(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    login(http, "operator")
    page = http.get("/?agency=HHS").text
    assert 'data-alert-id="a1"' in page and '<td class="agency">HHS</td>' in page
    assert "released to sponsor" in page
    assert 'data-alert-id="a1"' not in http.get("/?agency=EOIR").text
    assert 'data-alert-id="a1"' not in http.get("/?age=older").text
    assert 'data-alert-id="a1"' in http.get("/?age=day&release=released").text
    by_state = http.get("/?state=TX").text
    assert 'data-alert-id="a1"' in by_state and '<option selected>TX</option>' in by_state
    assert '<td class="small">TX</td>' in by_state
    assert 'data-alert-id="a1"' not in http.get("/?state=CA").text
    assert 'data-alert-id="a1"' not in http.get("/?state=none").text


def test_time_to_acknowledge_is_shown_in_a_unit_that_reads() -> None:
    from ucwatch.console.dashboard import duration_unit
    assert duration_unit([0.0005, 0.001]) == ("Seconds", "s", 3600.0)  # not "0.0 h"
    assert duration_unit([0.5]) == ("Minutes", "min", 60.0)
    assert duration_unit([0.2, 3.0]) == ("Hours", "h", 1.0)
    assert duration_unit([]) == ("Hours", "h", 1.0)


def test_a_metrics_port_out_of_range_is_refused_before_anything_starts() -> None:
    settings = Settings(console=ConsoleSettings(metrics_port=65536))
    with pytest.raises(SettingsError, match=r"console\.metrics_port"):
        run_console(settings)  # no Kafka here: refused before waiting for it
