"""`ucwatch console` on the real broker: an alert published to the alerts topic appears in
the queue, and an action taken through the console lands on the actions topic, keyed by
the child, with its audit entry; a restarted console rebuilds the same triage from the log;
a child's snapshot, notices and their delivery reach its page; /metrics is scraped."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from tests.helpers import read_topic
from tests.integration.console_support import (
    CATALOG,
    CLI,
    PASSWORD,
    ConsoleProcess,
    actions_on,
    audit_entries,
    publish_alert,
)
from ucwatch.core.settings import Settings
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder

pytestmark = pytest.mark.kafka
CHILD = "SYN-CH-000000777"


def logged_in(url: str, user: str) -> httpx.Client:
    http = httpx.Client(base_url=url, follow_redirects=False, timeout=20)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
    assert token is not None
    answer = http.post("/login", data={"user": user, "password": PASSWORD, "csrf": token.group(1)})
    assert answer.status_code == 303, answer.text
    return http


def wait_for(http: httpx.Client, path: str, text: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = http.get(path, headers={"X-Requested-With": "fetch"}).text
        if text in page:
            return page
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear on {path} within {timeout_s} s")


def test_an_alert_appears_and_an_action_lands_on_the_actions_topic(settings: Settings, tmp_path: Path) -> None:
    console = ConsoleProcess(settings, tmp_path)
    console.add_user("olivia", "operator")
    console.start()
    try:
        with closing(logged_in(console.url, "olivia")) as http:
            alert_id = publish_alert(settings, CHILD)
            page = wait_for(http, "/queue/fragment", alert_id)
            assert CHILD in page and "WHEREABOUTS_UNKNOWN" in page
            token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"/alerts/{alert_id}").text)
            assert token is not None
            answer = http.post(f"/alerts/{alert_id}/actions/ACKNOWLEDGED",
                               data={"csrf": token.group(1), "sequence": "1"})
            assert answer.status_code == 303, answer.text

            actions = [a for a in actions_on(settings) if a["alert_id"] == alert_id]
            assert [(a["action"], a["actor"], a["role"], a["child_id"], a["alert_sequence"]) for a in actions] == [
                ("ACKNOWLEDGED", "olivia", "OPERATOR", CHILD, 1)]
            assert [r.key for r in read_topic(settings.kafka.bootstrap, settings.topics.actions.name)] == [
                CHILD.encode()]
            audit = [e for e in audit_entries(settings) if e.get("via") == "console"]
            assert [e["action"] for e in audit] == ["console_login", "console_view_alert", "console_acknowledged"]
            assert {e["actor"] for e in audit} == {"olivia"}
            assert audit[-1]["action_id"] == actions[0]["action_id"]
            wait_for(http, "/queue/fragment?triage=acknowledged", alert_id)

            # The alert escalates after it was acknowledged: back in the queue as changed.
            publish_alert(settings, CHILD, alert_id=alert_id, sequence=2, change="ESCALATED")
            wait_for(http, "/queue/fragment?triage=new", alert_id)
    finally:
        assert console.stop() == 0

    # A new console rebuilds the same triage from the two topics.
    restarted = ConsoleProcess(settings, tmp_path)
    restarted.start()
    try:
        with closing(logged_in(restarted.url, "olivia")) as http:
            page = wait_for(http, "/queue/fragment?triage=new", alert_id)
            assert "changed" in page
            assert alert_id not in http.get("/queue/fragment?triage=acknowledged").text
    finally:
        assert restarted.stop() == 0


def _publish(settings: Settings, topic: str, schema: tuple[str, str], key: str, record: dict[str, Any]) -> None:
    value = Encoder(EmbeddedRegistry(CATALOG), topic).encode(CATALOG.latest(*schema), record)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "partitioner": "murmur2_random"})
    errors: list[str] = []
    producer.produce(topic, value, key.encode(), on_delivery=lambda e, _m: errors.append(e.str()) if e else None)
    assert producer.flush(30) == 0 and errors == []


def test_the_childs_page_folds_snapshots_notices_and_deliveries_and_metrics_are_scraped(
        settings: Settings, tmp_path: Path) -> None:
    child, at = "SYN-CH-000000888", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    topics = settings.topics
    console = ConsoleProcess(settings, tmp_path)  # creates the topics
    _publish(settings, topics.child_state.name, ("ChildStateSnapshot", "state"), child, {
        "child_id": child, "custody_status": "RELEASED_TO_SPONSOR", "contact_status": "WHEREABOUTS_UNKNOWN",
        "court_status": "FAILED_TO_APPEAR", "next_hearing_at": at + timedelta(days=60), "last_contact_at": None,
        "last_event_at": at, "events_seen": 9, "open_alerts": [], "as_of": at, "synthetic": True,
        "release_state": "TX"})
    _publish(settings, topics.notifications.name, ("NotificationSent", "notifications"), child, {
        "notification_id": "notice-1", "child_id": child, "recipient": "HHS", "kind": "FAILURE_TO_APPEAR",
        "fact_id": "event-1", "occurred_at": at, "reason": "failure to appear", "synthetic": True})
    _publish(settings, topics.deliveries.name, ("NoticeDelivery", "deliveries"), child, {
        "notification_id": "notice-1", "child_id": child, "recipient": "HHS", "kind": "FAILURE_TO_APPEAR",
        "endpoint": "hhs.webhook", "channel": "WEBHOOK", "attempt": 3, "outcome": "DELIVERED", "status_code": 200,
        "detail": "200 OK", "at": at, "notice_partition": 0, "notice_offset": 0, "synthetic": True})
    alert_id = publish_alert(settings, child)
    console.add_user("olivia", "operator")
    console.start()
    try:
        with closing(logged_in(console.url, "olivia")) as http:
            assert alert_id in http.get("/?release=released&agency=HHS").text
            assert alert_id not in http.get("/?release=in_custody").text
            assert alert_id in http.get("/?state=TX").text and alert_id not in http.get("/?state=CA").text
            page = http.get(f"/children/{child}").text
            assert "whereabouts unknown" in page and "released to sponsor" in page and "2024-06-30 12:00 UTC" in page
            assert "hhs.webhook: delivered, attempt 3 (200)" in page
            assert 'id="release-state">TX<' in page
            assert http.get("/dashboard").status_code == 200
        assert httpx.get(f"{console.url}/metrics", timeout=10).status_code == 404  # not where people come in
        assert httpx.get(f"{console.metrics_url}/readyz", timeout=10).status_code == 200
        metrics = httpx.get(f"{console.metrics_url}/metrics", timeout=10).text
        assert 'ucwatch_console_page_views_total{page="child"} 1.0' in metrics
        assert "ucwatch_console_feed_ready 1.0" in metrics
        assert f'ucwatch_console_feed_lag_records{{topic="{topics.alerts.name}"}} 0.0' in metrics
    finally:
        assert console.stop() == 0


def test_an_actions_audit_entry_lands_in_clickhouse_and_the_admin_reads_it_there(
        settings: Settings, tmp_path: Path) -> None:
    """The console's audit entries reach the `audit` table through the real sink (embedded
    chDB, serving queries), and the admin page shows them, filtered, from there: the console
    no longer reads the audit topic at all."""
    child = "SYN-CH-000000999"
    console = ConsoleProcess(settings, tmp_path)
    console.add_user("olivia", "operator")
    console.add_user("adam", "admin")
    alert_id = publish_alert(settings, child)
    console.start()
    sink_log = tmp_path / "sink.log"
    with sink_log.open("ab") as log:
        sink = subprocess.Popen([*CLI, "sink"], stdout=log, stderr=subprocess.STDOUT,
                                env={**console.env, "UCWATCH_SINK_GROUP_ID": f"sink-{uuid.uuid4().hex}"})
    try:
        with closing(logged_in(console.url, "olivia")) as http:
            wait_for(http, "/queue/fragment", alert_id)
            token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"/alerts/{alert_id}").text)
            assert token is not None
            answer = http.post(f"/alerts/{alert_id}/actions/ACKNOWLEDGED",
                               data={"csrf": token.group(1), "sequence": "1"})
            assert answer.status_code == 303, answer.text
        action_id = next(a["action_id"] for a in actions_on(settings) if a["alert_id"] == alert_id)

        with closing(logged_in(console.url, "adam")) as admin:
            deadline = time.monotonic() + 90
            page = ""
            while time.monotonic() < deadline and action_id not in page:
                assert sink.poll() is None, sink_log.read_text()
                page = admin.get(f"/admin?actor=olivia&child={child}").text
                time.sleep(0.5)
            assert action_id in page, page[-3000:]
            trail = page[page.index('<table id="audit"'):page.index("</table>", page.index('<table id="audit"'))]
            rows = re.findall(r"<tr><td[^>]*>([^<]+)</td><td>([^<]+)</td><td>([^<]*)</td><td[^>]*>([^<]*)</td>"
                              r"<td>([^<]+)</td>", trail)
            assert [(who, role, via, what) for _, who, role, via, what in rows] == [
                ("olivia", "operator", "console", "console_acknowledged"),
                ("olivia", "operator", "console", "console_view_alert")]
            assert f"action {action_id}" in trail and f"/alerts/{alert_id}" in trail
            only_views = admin.get("/admin?action=console_view_alert").text
            assert "console_acknowledged</td>" not in only_views.split('<table id="audit"')[1]
    finally:
        sink.terminate()
        assert sink.wait(30) == 0, sink_log.read_text()
        assert console.stop() == 0
