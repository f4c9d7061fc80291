"""Operations alerts (CLOCK_STALLED, FEED_STALLED) are about no child: their key, as the
workers make it, is told from a child's token (console/subjects.py); the queue and the
alert's page show what it names and link to no child page; they can be acknowledged."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.unit.console.support import CHILD, T0, change, console
from tests.unit.console.test_web import client, csrf_of, login
from ucwatch.console.responsibility import agencies_for
from ucwatch.console.subjects import operations_subject
from ucwatch.streams.clock_watch import RULE as CLOCK_RULE
from ucwatch.streams.clock_watch import Turn, stall_alert
from ucwatch.streams.feed_alerts import feed_alert
from ucwatch.streams.lifecycle import OPENED
from ucwatch.streams.policy import Feeds
from ucwatch.streams.watermarks import FEED_RULE

MS = int(T0.timestamp() * 1000)
CLOCK_KEY = stall_alert(Turn(3, True, MS, MS, 1200.0), "ucwatch.lifecycle", 900.0, MS)[0]
FEED_KEY = feed_alert(("EOIR", OPENED, MS, "feed-alert", 1, MS), Feeds())[0]


def test_the_workers_keys_name_their_subject_and_a_child_token_names_none() -> None:
    assert operations_subject(CLOCK_KEY) == "the clock of ucwatch.lifecycle, partition 3"
    assert operations_subject(FEED_KEY) == "the EOIR feed"
    for key in (CHILD, "CH-ABC123", "clock:", "clock:topic/", "clock:a b/1", "clock:t/1/2", "FEED:", "FEED:eoir",
                "FEED:EOIR/x", "feed:EOIR", "SYN-CH-FEED:EOIR", f"{CLOCK_KEY}\n"):
        assert operations_subject(key) is None, key


def test_operations_alerts_are_for_operations_staff() -> None:
    assert agencies_for(CLOCK_RULE) == ("OPS",) and agencies_for(FEED_RULE) == ("OPS",)


def children_linked(page: str) -> list[str]:
    return re.findall(r'href="/children/([^"]*)"', page)


def test_no_child_link_for_an_operations_alert_and_it_can_be_acknowledged(tmp_path: Path) -> None:
    made, outbox = console(tmp_path)
    made.state.apply_alert(change("a1"))  # a child's
    made.state.apply_alert(change("clock", rule=CLOCK_RULE, severity="CRITICAL", child_id=CLOCK_KEY))
    made.state.apply_alert(change("feed", rule=FEED_RULE, child_id=FEED_KEY))
    http: TestClient = client(made)
    login(http, "operator")

    queue = http.get("/").text
    assert children_linked(queue) == [CHILD]
    assert CLOCK_KEY in queue and FEED_KEY in queue and 'title="the EOIR feed"' in queue
    assert children_linked(http.get("/queue/fragment", headers={"X-Requested-With": "fetch"}).text) == [CHILD]

    for alert_id, key, named in (("clock", CLOCK_KEY, "the clock of ucwatch.lifecycle, partition 3"),
                                 ("feed", FEED_KEY, "the EOIR feed")):
        page = http.get(f"/alerts/{alert_id}")
        assert page.status_code == 200 and children_linked(page.text) == [] and 'id="child-link"' not in page.text
        assert re.search(rf'id="subject">{re.escape(named)} <span[^>]*>{re.escape(key)}</span>', page.text)
        assert outbox.audits[-1]["action"] == "console_view_alert" and outbox.audits[-1]["child_id"] is None
        answer = http.post(f"/alerts/{alert_id}/actions/ACKNOWLEDGED",
                           data={"sequence": "1", "csrf": csrf_of(page.text)})
        assert answer.status_code == 303, answer.text
        assert outbox.actions[-1].child_id == key and outbox.audits[-1]["child_id"] is None

    child = http.get("/alerts/a1").text
    assert children_linked(child) == [CHILD] and 'id="child-link"' in child and 'id="subject"' not in child
    assert outbox.audits[-1]["child_id"] == CHILD
