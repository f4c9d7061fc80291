"""The console in a real browser (Debian's chromium, headless, driven by Selenium through
chromedriver), as an operator, a supervisor and an analyst would use it:

- live: a lifecycle event published to Kafka is detected by a real worker, and the alert
  it opens appears in the open queue without a reload;
- every action through the page's own forms: the operator acknowledges, adds a note,
  snoozes and records a follow-up outcome; the supervisor assigns and closes by hand with
  a reason; each lands on the actions topic, and the child's timeline shows them all;
- refusals: the analyst sees no button and the endpoint answers 403 to a POST the
  browser sends with the analyst's own session and token; a POST without the CSRF token
  is refused; the session cookie replayed after logging out is refused.

Screenshots are test artifacts, in `build/test-artifacts/browser/` (or
$UCWATCH_TEST_ARTIFACTS/browser/). The README's pictures come from the demo's data, by
`tests/browser/screenshots.py`. Needs `apt-get install chromium chromium-driver`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.waits import attribute_of, attributes_of_all, click_within, settled, text_of
from tests.helpers import read_topic, sample_event
from tests.integration.console_support import PASSWORD, ConsoleProcess, actions_on, publish_alert
from tests.integration.detect_support import start_worker, stop_worker
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer

pytestmark = pytest.mark.kafka
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("UCWATCH_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "build"
                 / "test-artifacts") / "browser"
CHILD = "SYN-CH-000000314"
SESSION_COOKIE = "ucwatch_session"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                     "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str, *, full_page: bool = False) -> Path:
    """Saves the page as an artifact; `full_page` widens the window to the page's height first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:  # the window's height less the viewport's is the browser's own frame
        frame = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(1400, min(max(height + frame, 1000), 4000))
    driver.save_screenshot(str(path))
    if full_page:
        driver.set_window_size(1400, 1000)
    return path


def log_in(driver: WebDriver, url: str, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "queue")))


def row_of(alert_id: str) -> tuple[str, str]:
    return By.CSS_SELECTOR, f'tr[data-alert-id="{alert_id}"]'


def act(driver: WebDriver, button: str, done: str) -> None:
    """Submits the form of `button` and waits for the alert page to say `done`."""
    clicked = WebDriverWait(driver, 15).until(expected_conditions.element_to_be_clickable((By.ID, button)))
    clicked.click()
    # the page before the click may already say "done" (the previous action's): wait for the next one
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(clicked))
    shown = text_of(driver, (By.ID, "done"))
    assert shown == done, text_of(driver, (By.TAG_NAME, "main"))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_from_page(driver: WebDriver, path: str, fields: dict[str, str]) -> int:
    """A POST sent by the page's own script (same origin, the browser's session cookie)."""
    status: int = driver.execute_async_script(
        "const [path, fields, done] = arguments;"
        "fetch(path, {method: 'POST', body: new URLSearchParams(fields), credentials: 'same-origin',"
        "             redirect: 'manual'}).then(r => done(r.status), e => done(-1));", path, fields)
    return status


def page_csrf(driver: WebDriver) -> str:
    """The session's CSRF token, from the header's logout form (on every page)."""
    token = driver.find_element(By.CSS_SELECTOR, 'form[action="/logout"] input[name="csrf"]').get_attribute("value")
    assert token
    return token


def test_an_event_published_to_kafka_opens_an_alert_that_appears_live(
        settings: Settings, tmp_path: Path, browser: WebDriver) -> None:
    console = ConsoleProcess(settings, tmp_path)
    console.add_user("olivia", "operator")
    publish_alert(settings, "SYN-CH-000000101", severity="HIGH", rule="LOST_CONTACT")
    worker = start_worker(settings, tmp_path)
    console.start()
    wait = WebDriverWait(browser, 20)
    try:
        with EventProducer(settings) as producer:  # warm-up: the worker is running once it writes a snapshot
            producer.publish(sample_event("ChildEncountered", child=900))
        deadline = time.monotonic() + 240
        while not read_topic(settings.kafka.bootstrap, settings.topics.child_state.name, timeout_s=5):
            assert worker.poll() is None and time.monotonic() < deadline, "the worker did not start"
            time.sleep(1)

        log_in(browser, console.url, "olivia")
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "live"), "live"))
        assert len(attributes_of_all(browser, (By.CSS_SELECTOR, "tr[data-alert-id]"), "data-alert-id")) == 1
        browser.execute_script("window.notReloaded = true;")

        now, before = datetime.now(UTC), datetime.now(UTC) - timedelta(days=31)
        released = sample_event("ReleasedToSponsor", child=314, occurred_at=iso(before), recorded_at=iso(before),
                                state="TX")
        call = sample_event("WellbeingCallAttempted", child=314, occurred_at=iso(now), recorded_at=iso(now),
                            outcome="REACHED_SPONSOR_ONLY", lives_with_sponsor=False)
        published = time.monotonic()
        with EventProducer(settings) as producer:  # the child is not with the sponsor: CRITICAL at once
            producer.publish(released)
            producer.publish(call)
        first = settled(browser, lambda d: next(
            (row.get_attribute("data-alert-id") for row in d.find_elements(By.CSS_SELECTOR, "tr[data-alert-id]")
             if CHILD in row.text and "NOT_WITH_SPONSOR" in row.text), None), timeout_s=60)
        took = time.monotonic() - published
        assert browser.execute_script("return window.notReloaded === true;"), "the page was reloaded"
        assert "CRITICAL" in text_of(browser, row_of(first))
        assert attribute_of(browser, (By.CSS_SELECTOR, "tr[data-alert-id]"), "data-alert-id") == first  # on top
        assert text_of(browser, (By.ID, "count-critical")) == "1"
        print(f"event published to row shown, through the worker and the console: {took:.2f} s")
        screenshot(browser, "console-live")

        click_within(browser, row_of(first), (By.LINK_TEXT, CHILD))
        wait.until(expected_conditions.presence_of_element_located((By.ID, "timeline")))
        wait.until(lambda d: d.find_elements(By.ID, "release-state"))
        assert browser.find_element(By.ID, "release-state").text == "TX"  # the snapshot v2's state of release
        screenshot(browser, "console-live-child")
    finally:
        stop_worker(worker)
        assert console.stop() == 0


def test_every_action_by_role_and_every_refusal_in_a_real_browser(
        settings: Settings, tmp_path: Path, browser: WebDriver) -> None:
    console = ConsoleProcess(settings, tmp_path)
    for name, role in (("olivia", "operator"), ("sam", "supervisor"), ("ana", "analyst")):
        console.add_user(name, role)
    for i, (severity, rule) in enumerate([("HIGH", "LOST_CONTACT"), ("MEDIUM", "WELLBEING_CALL_OVERDUE"),
                                          ("LOW", "STALE_CASE"), ("HIGH", "BAD_RELEASE_ADDRESS")]):
        publish_alert(settings, f"SYN-CH-00000010{i}", severity=severity, rule=rule)
    alert_id = publish_alert(settings, CHILD)  # CRITICAL WHEREABOUTS_UNKNOWN
    other = publish_alert(settings, "SYN-CH-000000200", severity="HIGH", rule="NOT_WITH_SPONSOR")
    console.start()
    try:
        operator_acts(browser, console.url, alert_id, other)
        supervisor_acts(browser, console.url, alert_id)
        timeline_shows_every_action(browser, console.url)
        landed = [(a["action"], a["actor"], a["alert_id"]) for a in actions_on(settings)]
        assert landed == [(kind, who, alert_id) for kind, who in ACTIONS], "each action on the topic, in order"
        token = analyst_is_refused(browser, console.url, other)
        replayed_session_is_refused(browser, console.url, other, token)
        assert [a["alert_id"] for a in actions_on(settings)].count(other) == 0, "no refused POST did anything"
    finally:
        assert console.stop() == 0


ACTIONS = (("ACKNOWLEDGED", "olivia"), ("NOTE_ADDED", "olivia"), ("SNOOZED", "olivia"),
           ("FOLLOW_UP_RECORDED", "olivia"), ("ASSIGNED", "sam"), ("CLOSED_BY_HAND", "sam"))


def operator_acts(browser: WebDriver, url: str, alert_id: str, other: str) -> None:
    """Acknowledge, note, snooze, follow-up, through the page's forms; no assign or close
    for an operator; a POST without the CSRF token is refused."""
    log_in(browser, url, "olivia")
    WebDriverWait(browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "live"), "live"))
    assert attribute_of(browser, (By.CSS_SELECTOR, "tr[data-alert-id]"), "data-alert-id") == alert_id
    screenshot(browser, "console-queue")
    click_within(browser, row_of(alert_id), (By.LINK_TEXT, "WHEREABOUTS_UNKNOWN"))
    WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "triage")))
    assert not browser.find_elements(By.ID, "act-assign") and not browser.find_elements(By.ID, "act-close")
    act(browser, "act-acknowledge", "Acknowledged.")
    assert "acknowledged by olivia" in browser.find_element(By.ID, "triage").text
    browser.find_element(By.NAME, "note").send_keys("Called the sponsor's number from the case file; no answer.")
    act(browser, "act-note", "Note added.")
    until = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    browser.execute_script("arguments[0].value = arguments[1];",
                           browser.find_element(By.CSS_SELECTOR, 'input[name="until"]'), until)
    act(browser, "act-snooze", "Snoozed.")
    triage = browser.find_element(By.ID, "triage").text
    assert triage.startswith("snoozed") and f"until {until} 00:00 UTC" in triage
    follow_up = browser.find_element(By.ID, "act-follow-up").find_element(By.XPATH, "..")
    Select(follow_up.find_element(By.NAME, "outcome")).select_by_value("LOCATED_HOME_VISIT_DONE")
    follow_up.find_element(By.NAME, "note").send_keys("Home visit by PRS; child at the sponsor's.")
    act(browser, "act-follow-up", "Follow-up recorded.")
    screenshot(browser, "console-alert-operator", full_page=True)

    assert post_from_page(browser, f"/alerts/{other}/actions/ACKNOWLEDGED", {"sequence": "1"}) == 403
    browser.get(f"{url}/?triage=all")  # snoozed alerts are out of the default view
    assert "snoozed" in text_of(browser, row_of(alert_id))  # the live refresh may replace the row


def supervisor_acts(browser: WebDriver, url: str, alert_id: str) -> None:
    """Assign to a team, then close by hand with a reason: the alert leaves the queue."""
    log_in(browser, url, "sam")
    browser.get(f"{url}/alerts/{alert_id}")
    browser.find_element(By.NAME, "assignee").send_keys("team:hhs-liaison")
    act(browser, "act-assign", "Assigned.")
    close = browser.find_element(By.ID, "act-close").find_element(By.XPATH, "..")
    Select(close.find_element(By.NAME, "reason")).select_by_value("RESOLVED_OUTSIDE_SYSTEM")
    close.find_element(By.NAME, "note").send_keys("Located by ICE ERO; see follow-up.")
    act(browser, "act-close", "Closed by hand.")
    assert browser.find_element(By.ID, "triage").text == "closed by hand by sam (resolved outside system)"
    assert not browser.find_elements(By.ID, "act-acknowledge") and not browser.find_elements(By.ID, "act-close")
    screenshot(browser, "console-alert-supervisor", full_page=True)
    browser.get(f"{url}/?triage=all")
    assert not browser.find_elements(*row_of(alert_id)), "a closed alert leaves the queue"


def timeline_shows_every_action(browser: WebDriver, url: str) -> None:
    browser.get(f"{url}/children/{CHILD}")
    wait = WebDriverWait(browser, 20)
    timeline = wait.until(expected_conditions.presence_of_element_located((By.ID, "timeline"))).text
    for what, who in ACTIONS:
        line = next((t for t in timeline.splitlines() if f"action {what.replace('_', ' ')} by" in t), "")
        assert f"by {who}" in line, (what, timeline)
    assert "outcome: located home visit done" in timeline and "reason: resolved outside system" in timeline
    screenshot(browser, "console-child", full_page=True)
    browser.get(f"{url}/dashboard")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "oversight")))
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-severity svg rect title")
    screenshot(browser, "console-dashboard", full_page=True)


def analyst_is_refused(browser: WebDriver, url: str, other: str) -> str:
    """No button, no admin link, and the endpoint refuses a POST made with the analyst's
    own session and valid token; returns that token."""
    log_in(browser, url, "ana")
    browser.get(f"{url}/alerts/{other}")
    assert "reads only" in browser.find_element(By.ID, "read-only").text
    assert browser.find_elements(By.CSS_SELECTOR, "form.act") == []
    assert browser.find_elements(By.LINK_TEXT, "Admin") == []
    token = page_csrf(browser)
    for kind in ("ACKNOWLEDGED", "NOTE_ADDED", "CLOSED_BY_HAND"):
        fields = {"csrf": token, "sequence": "1", "note": "x", "reason": "FALSE_ALARM"}
        assert post_from_page(browser, f"/alerts/{other}/actions/{kind}", fields) == 403, kind
    screenshot(browser, "console-analyst")
    return token


def replayed_session_is_refused(browser: WebDriver, url: str, other: str, token: str) -> None:
    """The session cookie put back after logging out, in the browser and by a script."""
    replayed = browser.get_cookie(SESSION_COOKIE)
    assert replayed is not None and replayed["httpOnly"]
    browser.find_element(By.CSS_SELECTOR, 'form[action="/logout"] button').click()
    WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "login")))
    browser.add_cookie({"name": SESSION_COOKIE, "value": replayed["value"], "path": "/"})
    browser.get(f"{url}/alerts/{other}")
    assert browser.current_url.endswith("/login")
    with httpx.Client(base_url=url, cookies={SESSION_COOKIE: replayed["value"]}) as script:
        assert script.get("/", follow_redirects=False).status_code == 303
        answer = script.post(f"/alerts/{other}/actions/ACKNOWLEDGED", data={"csrf": token, "sequence": "1"},
                             headers={"X-Requested-With": "fetch"})
        assert answer.status_code == 401
