"""Reading and clicking what the console's live refresh may replace, in the browser tests.

The queue page fetches its rows again on every live message (console/static/console.js)
and puts the new ones in place of the old, so an element found a moment ago can be gone
by the time its text is read or it is clicked (StaleElementReferenceException). Each
helper here finds the element again on every try, within a WebDriverWait that ignores
that exception (and NoSuchElementException, while the new rows are not in yet), instead
of holding on to an element or sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")
Locator = tuple[str, str]
REPLACED = (StaleElementReferenceException, NoSuchElementException)
TIMEOUT_S = 20.0


def settled(driver: WebDriver, read: Callable[[WebDriver], T | None], timeout_s: float = TIMEOUT_S) -> T:
    """The first truthy result of `read`, tried again whenever an element it found was
    replaced under it (or is not there yet); TimeoutException after `timeout_s`."""
    result: T = WebDriverWait(driver, timeout_s, ignored_exceptions=REPLACED).until(read)
    return result


def text_of(driver: WebDriver, locator: Locator, timeout_s: float = TIMEOUT_S) -> str:
    """The element's text, read from the element found now (an empty text is a result)."""
    return settled(driver, lambda d: (d.find_element(*locator).text,), timeout_s)[0]


def attribute_of(driver: WebDriver, locator: Locator, name: str, timeout_s: float = TIMEOUT_S) -> str | None:
    return settled(driver, lambda d: (d.find_element(*locator).get_attribute(name),), timeout_s)[0]


def attributes_of_all(driver: WebDriver, locator: Locator, name: str,
                      timeout_s: float = TIMEOUT_S) -> list[str | None]:
    """`name` of every element matching `locator`, all read from the same rows."""
    return settled(driver, lambda d: ([e.get_attribute(name) for e in d.find_elements(*locator)],), timeout_s)[0]


def texts_within(driver: WebDriver, outer: Locator, inner: Locator, timeout_s: float = TIMEOUT_S) -> list[str]:
    """The texts of the `inner` elements of the element `outer` (e.g. a row's cells)."""
    return settled(driver, lambda d: ([e.text for e in d.find_element(*outer).find_elements(*inner)],),
                   timeout_s)[0]


def click_within(driver: WebDriver, outer: Locator, inner: Locator | None = None,
                 timeout_s: float = TIMEOUT_S) -> None:
    """Clicks `inner` inside `outer` (or `outer` itself), both found again on each try: a
    click on an element already replaced raises before anything is sent to the page."""
    def click(d: WebDriver) -> bool:
        found = d.find_element(*outer)
        (found.find_element(*inner) if inner is not None else found).click()
        return True
    settled(driver, click, timeout_s)


OBSERVE_QUEUE = """
document.addEventListener("DOMContentLoaded", function () {
  var queue = document.getElementById("queue");
  if (!queue) { return; }
  window.queueReplaced = 0;
  new MutationObserver(function () { window.queueReplaced += 1; }).observe(queue, {childList: true});
});
"""
"""Counts, on every page loaded after `observe_queue`, how often the queue's rows are put
in place anew (a flash on a row is not a replacement)."""


def observe_queue(driver: WebDriver) -> None:
    """From the next page loaded on: `window.queueReplaced` counts the live refreshes that
    replaced the queue's contents (Chromium's DevTools protocol runs it before the page's
    own script)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVE_QUEUE})


def queue_replacements_once_refreshed(driver: WebDriver, timeout_s: float = TIMEOUT_S) -> int:
    """`window.queueReplaced` once the page's refresh on connecting is over: its fetch of the
    queue answered, then one more fetch of ours (a round trip later, the page's own handler
    has run)."""
    settled(driver, lambda d: d.execute_script(
        "return performance.getEntriesByType('resource').some("
        "  e => e.name.includes('/queue/fragment') && e.responseEnd > 0);"), timeout_s)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('queue').dataset.fragment, {headers: {'X-Requested-With': 'fetch'}})"
        "  .then(r => r.text()).then(() => setTimeout(done, 0), () => setTimeout(done, 0));")
    replaced: int = driver.execute_script("return window.queueReplaced;")
    return replaced
