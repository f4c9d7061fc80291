"""`ucwatch console` on the real broker: an alert published to the alerts topic appears in
the queue, and an action taken through the console lands on the actions topic, keyed by
the child, with its audit entry; a restarted console rebuilds the same triage from the log."""

from __future__ import annotations

import re
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.helpers import read_topic
from tests.integration.console_support import (
    PASSWORD,
    ConsoleProcess,
    actions_on,
    audit_entries,
    publish_alert,
)
from ucwatch.core.settings import Settings

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
