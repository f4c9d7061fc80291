"""Correction notices on a child's page (issue 14): each correction nested under the notice it
withdraws, saying "withdrawn: <reason>", and that notice marked corrected; the fold on its
own, then the page over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.unit.console.support import CHILD, PASSWORD, T0, console
from ucwatch.console.children import ChildrenState, Notice
from ucwatch.console.notices import thread_notices, withdrawal
from ucwatch.console.routes import build_app

LOCATED = "alert retracted: LocationVerified occurred 2024-04-30 09:00 UTC, before the deadline"


def notice(notification_id: str, recipient: str = "HHS", *, corrects: str | None = None,
           hours: int = 0) -> Notice:
    record: dict[str, Any] = {
        "notification_id": notification_id, "child_id": CHILD, "recipient": recipient,
        "kind": "CORRECTION" if corrects else "WHEREABOUTS_UNKNOWN", "fact_id": "a1",
        "occurred_at": T0 + timedelta(hours=hours), "reason": LOCATED if corrects else "whereabouts unknown"}
    if corrects is not None:
        record["corrects_notification_id"] = corrects
    return Notice.from_record(record)


def children_with(*notices: Notice) -> ChildrenState:
    children = ChildrenState()
    for n in notices:
        children.apply_notice(n)
    return children


def test_each_correction_is_nested_under_the_notice_it_withdraws() -> None:
    # the correction's event time (the late event) is before the notices it withdraws
    children = children_with(notice("n-hhs", hours=2), notice("n-ice", "ICE", hours=2),
                             notice("c-ice", "ICE", corrects="n-ice", hours=-3),
                             notice("c-hhs", corrects="n-hhs", hours=-3), notice("n-other", hours=5))
    threads = thread_notices(children.child_notices(CHILD))
    assert [(t.notice.notification_id, [c.notification_id for c, _ in t.corrections]) for t in threads] == [
        ("n-hhs", ["c-hhs"]), ("n-ice", ["c-ice"]), ("n-other", [])]
    assert [t.corrected for t in threads] == [True, True, False]
    assert all(t.withdraws is None for t in threads)
    assert withdrawal(threads[0].corrections[0][0]) == f"withdrawn: {LOCATED}"


def test_a_v1_notice_has_no_correction_and_an_unmatched_correction_stands_alone() -> None:
    v1 = Notice.from_record({"notification_id": "n1", "child_id": CHILD, "recipient": "HHS",
                             "kind": "FAILURE_TO_APPEAR", "fact_id": "e1", "occurred_at": T0, "reason": "FTA"})
    assert v1.corrects_notification_id is None
    threads = thread_notices(children_with(v1, notice("c-gone", corrects="n-not-read")).child_notices(CHILD))
    assert [(t.notice.notification_id, t.corrected, t.withdraws) for t in threads] == [
        ("c-gone", False, "n-not-read"), ("n1", False, None)]


def test_the_childs_page_shows_the_pair(tmp_path: Path) -> None:
    made, _ = console(tmp_path)
    for n in (notice("n-hhs", hours=2), notice("c-hhs", corrects="n-hhs", hours=-3), notice("n-later", hours=5),
              notice("c-orphan", "ICE", corrects="n-unread", hours=6)):
        made.children.apply_notice(n)
    http = TestClient(build_app(made), base_url="http://127.0.0.1", follow_redirects=False)
    form = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    http.post("/login", data={"user": "operator", "password": PASSWORD, "csrf": token.group(1)})
    page = http.get(f"/children/{CHILD}")
    assert page.status_code == 200
    panel = page.text[page.text.index('id="notices"'):page.text.index("</section>", page.text.index('id="notices"'))]
    original = panel[panel.index('id="notice-n-hhs"'):panel.index('id="notice-n-later"')]
    assert '<span class="corrected">corrected</span>' in original and 'class="notice notice-corrected"' in panel
    nested = original[original.index('<ul class="corrections">'):]
    assert 'id="notice-c-hhs"' in nested and "withdrawn: alert retracted: LocationVerified occurred" in nested
    later = panel[panel.index('id="notice-n-later"'):panel.index('id="notice-c-orphan"')]
    assert "corrected" not in later and "withdrawn" not in later
    orphan = panel[panel.index('id="notice-c-orphan"'):]
    assert "withdrawn: alert retracted" in orphan and "withdraws notice n-unread" in orphan
    # the timeline says the same of each
    timeline = page.text[page.text.index('id="timeline"'):]
    assert "withdrawn: alert retracted" in timeline and "(corrects notice n-hhs)" in timeline
    assert "whereabouts unknown (corrected: withdrawn by a correction notice)" in timeline
