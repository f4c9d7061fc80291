"""Alerts held PENDING in a real browser (issue 11, item 2): the console as a process on the
real broker; PENDING alert changes on the alerts topic, with the detector's own reasons.
The count above the queue links to the pending list, which shows each with its rule,
child, deadline, since when and for which feed it waits, and no action; when one opens it
leaves the list without a reload. Screenshot: `pending-alerts.png` among the artifacts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.test_console_browser import browser, log_in, row_of, screenshot
from tests.browser.waits import (
    attributes_of_all,
    click_within,
    observe_queue,
    queue_replacements_once_refreshed,
    text_of,
    texts_within,
)
from tests.integration.console_support import ConsoleProcess, publish_alert, publish_alert_change
from ucwatch.core.settings import Settings
from ucwatch.streams.policy import Feeds, Outage
from ucwatch.streams.watermarks import PartitionMarks

pytestmark = pytest.mark.kafka
__all__ = ["browser"]  # the fixture, shared with the console's other browser test
DAY_MS = 86_400_000
PENDING_ROWS = (By.CSS_SELECTOR, "tr.pending")


def publish_pending(settings: Settings, child_id: str, *, rule: str, severity: str, deadline: datetime, reason: str,
                    sequence: int = 1, alert_id: str | None = None, opened: bool = False) -> str:
    alert_id = alert_id or uuid.uuid4().hex
    status = "OPEN" if opened else "PENDING"
    record = {"alert_id": alert_id, "child_id": child_id, "rule": rule, "change": "OPENED" if opened else "PENDING",
              "status": status, "severity": severity, "deadline": deadline, "fired_at": deadline,
              "reason": reason, "start_event_id": str(uuid.uuid4()), "basis": "8 U.S.C. 1232",
              "sequence": sequence, "synthetic": True}
    publish_alert_change(settings, record)
    return alert_id


def test_pending_alerts_are_listed_with_their_feed_and_leave_the_list_when_they_open(
        settings: Settings, tmp_path: Path, browser: WebDriver) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    now_ms = int(now.timestamp() * 1000)
    marks = PartitionMarks(Feeds(outages=(Outage("EOIR", now_ms - 10 * DAY_MS, now_ms + 3 * DAY_MS,
                                                 "court closure"),)))
    marks.declare("ORR", now_ms - 6 * DAY_MS, now_ms)
    short, outage = marks.hold(("ORR",), now_ms - 2 * DAY_MS, now_ms), marks.hold(("EOIR",), now_ms - DAY_MS, now_ms)
    assert short is not None and outage is not None

    console = ConsoleProcess(settings, tmp_path)
    console.add_user("sam", "supervisor")
    publish_alert(settings, "SYN-CH-000000101", severity="HIGH", rule="LOST_CONTACT")
    discharge = publish_pending(settings, "SYN-CH-000000102", rule="DISCHARGE_NOTICE_OVERDUE", severity="HIGH",
                                deadline=now - timedelta(days=2), reason=short[0])
    hearing = publish_pending(settings, "SYN-CH-000000103", rule="HEARING_OUTCOME_MISSING", severity="MEDIUM",
                              deadline=now - timedelta(days=1), reason=outage[0])
    console.start()
    try:
        observe_queue(browser)
        log_in(browser, console.url, "sam")
        wait = WebDriverWait(browser, 20)
        # The count and the rows are in the part of the page the live refresh replaces: each
        # read finds them again (tests/browser/waits.py).
        assert text_of(browser, (By.ID, "pending")) == "2 pending (waiting for the feeds)"
        click_within(browser, (By.ID, "pending"))
        wait.until(expected_conditions.presence_of_element_located((By.ID, "pending-explained")))
        # The refresh on connecting brings the queue the page was served with: the rows stay.
        assert queue_replacements_once_refreshed(browser) == 0
        assert attributes_of_all(browser, PENDING_ROWS, "data-alert-id") == [discharge, hearing]
        cells = texts_within(browser, row_of(discharge), (By.TAG_NAME, "td"))
        assert cells[1:4] == ["DISCHARGE_NOTICE_OVERDUE", "HHS", "SYN-CH-000000102"]
        assert cells[4].endswith("overdue 2 d") and cells[6] == "ORR" and "complete up to" in cells[7]
        assert texts_within(browser, row_of(hearing), (By.TAG_NAME, "td"))[6] == "EOIR"
        assert browser.find_elements(By.CSS_SELECTOR, "#queue form, #queue button") == []
        assert screenshot(browser, "pending-alerts").stat().st_size > 0

        # The alert's own page: pending, and nothing that would open it by hand.
        click_within(browser, row_of(discharge), (By.LINK_TEXT, "DISCHARGE_NOTICE_OVERDUE"))
        wait.until(expected_conditions.presence_of_element_located((By.ID, "child-link")))
        assert "pending" in browser.find_element(By.TAG_NAME, "main").text
        for button in ("act-acknowledge", "act-assign", "act-snooze", "act-close"):
            assert browser.find_elements(By.ID, button) == []
        screenshot(browser, "pending-alert-page")

        # The feed confirms the silence: the alert opens and leaves the list, live.
        browser.get(f"{console.url}/?status=pending")
        wait.until(expected_conditions.presence_of_element_located(row_of(discharge)))
        publish_pending(settings, "SYN-CH-000000102", rule="DISCHARGE_NOTICE_OVERDUE", severity="HIGH",
                        deadline=now - timedelta(days=2), reason="discharge notice not sent", sequence=2,
                        alert_id=discharge, opened=True)
        wait.until(expected_conditions.invisibility_of_element_located(row_of(discharge)))
        assert attributes_of_all(browser, PENDING_ROWS, "data-alert-id") == [hearing]
        assert browser.execute_script("return window.queueReplaced;") >= 1  # a change is put in place
    finally:
        console.stop()
