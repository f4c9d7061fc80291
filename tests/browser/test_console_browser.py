"""The console in a real browser (Debian's chromium, headless, driven by Selenium through
chromedriver): log in, see the queue, see an alert published to Kafka appear live without
a reload, acknowledge it, open the child's page and the dashboard; an analyst sees no
action button and no admin link.

Screenshots go to the test's tmp folder (the README's come from the demo's data, by
`tests/browser/screenshots.py`). Needs `apt-get install chromium chromium-driver`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.console_support import PASSWORD, ConsoleProcess, publish_alert
from ucwatch.core.settings import Settings

pytestmark = pytest.mark.kafka
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHILD = "SYN-CH-000000314"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, url: str, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(expected_conditions.presence_of_element_located((By.ID, "queue")))


def row_of(alert_id: str) -> tuple[str, str]:
    return By.CSS_SELECTOR, f'tr[data-alert-id="{alert_id}"]'


def test_operator_and_analyst_in_a_real_browser(settings: Settings, tmp_path: Path, browser: WebDriver) -> None:
    console = ConsoleProcess(settings, tmp_path)
    console.add_user("olivia", "operator")
    console.add_user("ana", "analyst")
    for i, (severity, rule) in enumerate([("HIGH", "LOST_CONTACT"), ("MEDIUM", "WELLBEING_CALL_OVERDUE"),
                                          ("LOW", "STALE_CASE"), ("HIGH", "BAD_RELEASE_ADDRESS")]):
        publish_alert(settings, f"SYN-CH-00000010{i}", severity=severity, rule=rule)
    console.start()
    wait = WebDriverWait(browser, 15)
    try:
        log_in(browser, console.url, "olivia")
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "live"), "live"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-alert-id]")) == 4
        browser.execute_script("window.notReloaded = true;")

        alert_id = publish_alert(settings, CHILD)  # appears live, on top (most severe)
        wait.until(expected_conditions.presence_of_element_located(row_of(alert_id)))
        assert browser.execute_script("return window.notReloaded === true;")
        first = browser.find_element(By.CSS_SELECTOR, "tr[data-alert-id]")
        assert first.get_attribute("data-alert-id") == alert_id and "CRITICAL" in first.text
        assert browser.find_element(By.ID, "count-critical").text == "1"
        browser.save_screenshot(str(tmp_path / "console-queue.png"))

        browser.find_element(*row_of(alert_id)).find_element(By.LINK_TEXT, "WHEREABOUTS_UNKNOWN").click()
        wait.until(expected_conditions.element_to_be_clickable((By.ID, "act-acknowledge"))).click()
        assert wait.until(expected_conditions.presence_of_element_located((By.ID, "done"))).text == "Acknowledged."
        assert "acknowledged by olivia" in browser.find_element(By.ID, "triage").text
        browser.save_screenshot(str(tmp_path / "console-alert.png"))

        browser.find_element(By.ID, "child-link").click()
        wait.until(expected_conditions.presence_of_element_located((By.ID, "timeline")))
        timeline = browser.find_element(By.ID, "timeline").text
        assert browser.find_element(By.ID, "child-id").text == CHILD
        assert "WHEREABOUTS UNKNOWN OPENED" in timeline and "ACKNOWLEDGED" in timeline and "by olivia" in timeline
        browser.save_screenshot(str(tmp_path / "console-child.png"))

        browser.get(f"{console.url}/dashboard")
        wait.until(expected_conditions.presence_of_element_located((By.ID, "oversight")))
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-severity svg rect title")  # bars, with their values
        assert browser.find_element(By.ID, "oversight-unavailable").text.startswith("The oversight figures are not")
        browser.save_screenshot(str(tmp_path / "console-dashboard.png"))

        log_in(browser, console.url, "ana")
        browser.get(f"{console.url}/alerts/{alert_id}")
        assert "reads only" in browser.find_element(By.ID, "read-only").text
        assert browser.find_elements(By.CSS_SELECTOR, "form.act") == []
        assert browser.find_elements(By.LINK_TEXT, "Admin") == []
        browser.save_screenshot(str(tmp_path / "console-analyst.png"))
    finally:
        console.stop()
