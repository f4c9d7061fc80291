"""The README's pictures, from a running console (e.g. `ucwatch demo --keep-running`):

    python -m tests.browser.screenshots http://127.0.0.1:PORT demo PASSWORD [--out docs/img]

Logs in with Debian's chromium (headless, through chromedriver) and saves the alert queue
(console-queue.png), the page of the child of the first row
(console-child.png) and the dashboard (console-dashboard.png). Not a test: the browser
test (`test_console_browser.py`) checks the behaviour and keeps its own screenshots.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def browser(width: int, height: int, profile: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                     f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("--out", type=Path, default=DOCS_IMG)
    parser.add_argument("--child", default="", help="the child whose page to show (default: the first row's)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    profile = tempfile.TemporaryDirectory(prefix="ucwatch-screenshots-")
    driver = browser(1400, 900, Path(profile.name))
    wait = WebDriverWait(driver, 30)
    try:
        driver.get(f"{args.url}/login")
        driver.find_element(By.ID, "user").send_keys(args.user)
        driver.find_element(By.ID, "password").send_keys(args.password)
        driver.find_element(By.ID, "login").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "live"), "live"))
        driver.save_screenshot(str(args.out / "console-queue.png"))
        child = args.child or first_child(driver.page_source)
        driver.get(f"{args.url}/children/{child}")
        wait.until(expected_conditions.presence_of_element_located((By.ID, "timeline")))
        driver.save_screenshot(str(args.out / "console-child.png"))
        driver.set_window_size(1400, 1500)
        driver.get(f"{args.url}/dashboard")
        wait.until(expected_conditions.presence_of_element_located((By.ID, "oversight")))
        driver.save_screenshot(str(args.out / "console-dashboard.png"))
    finally:
        driver.quit()
        profile.cleanup()
    print(f"saved console-queue.png, console-child.png ({child}), console-dashboard.png in {args.out}")


def first_child(queue_page: str) -> str:
    """The child of the queue's first row (the most severe, newest alert)."""
    found = re.search(r'href="/children/([^"]+)"', queue_page)
    assert found is not None, "the queue is empty"
    return found.group(1)


if __name__ == "__main__":
    main()
