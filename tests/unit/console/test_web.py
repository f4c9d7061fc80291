"""The console over HTTP (Starlette's TestClient, fakes for Kafka): log-in, sessions, CSRF,
roles, audit, and actions reaching the outbox and the state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.console.support import CHILD, PASSWORD, RecordingOutbox, change, console
from ucwatch.console.context import Console
from ucwatch.console.fold import Triage, triage
from ucwatch.console.routes import build_app
from ucwatch.console.sessions import SESSION_COOKIE


@pytest.fixture
def built(tmp_path: Path) -> tuple[Console, RecordingOutbox]:
    made, outbox = console(tmp_path, max_failed_logins=3)
    made.state.apply_alert(change("a1"))
    return made, outbox


def client(made: Console) -> TestClient:
    return TestClient(build_app(made), base_url="http://127.0.0.1", follow_redirects=False)


def login(http: TestClient, user: str, password: str = PASSWORD) -> int:
    form = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return http.post("/login", data={"user": user, "password": password, "csrf": token.group(1)}).status_code


def csrf_of(page: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def test_pages_need_a_login(built: tuple[Console, RecordingOutbox]) -> None:
    http = client(built[0])
    assert http.get("/").headers["location"] == "/login"
    assert http.get("/alerts/a1").status_code == 303
    assert http.get("/events").status_code == 401
    assert http.get("/queue/fragment", headers={"X-Requested-With": "fetch"}).status_code == 401
    assert http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"csrf": "x", "sequence": "1"}).status_code == 303


def test_login_sets_a_strict_httponly_cookie_and_shows_the_queue(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    form = http.get("/login")
    http.cookies.clear()  # the login form's own cookie is needed too
    assert http.post("/login", data={"user": "operator", "password": PASSWORD,
                                     "csrf": csrf_of(form.text)}).status_code == 403
    response = http.get("/login")
    answer = http.post("/login", data={"user": "operator", "password": PASSWORD, "csrf": csrf_of(response.text)})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    page = http.get("/")
    assert page.status_code == 200 and "LOST_CONTACT" in page.text and CHILD in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert [a["action"] for a in outbox.audits] == ["console_login", "console_view_queue"]
    assert outbox.audits[-1]["actor"] == "operator"


def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    made, _ = console(tmp_path, secure_cookies=True)
    http = TestClient(build_app(made), base_url="https://console.example", follow_redirects=False)
    form = http.get("/login")
    answer = http.post("/login", data={"user": "operator", "password": PASSWORD, "csrf": csrf_of(form.text)})
    assert "Secure" in answer.headers["set-cookie"]


def test_repeated_failures_lock_the_name_even_for_the_right_password(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    assert [login(http, "operator", "wrong password!") for _ in range(3)] == [401, 401, 429]
    assert login(http, "operator") == 429
    assert login(http, "supervisor") == 303  # other names are not locked
    assert outbox.audits[2] == {"action": "console_login_failed", "child_id": None, "actor": "operator", "role": "",
                                "locked": True}
    made.monotonic = lambda: 10_000_000.0  # the lock runs out
    assert login(http, "operator") == 303


def test_unknown_users_get_the_same_answer(built: tuple[Console, RecordingOutbox]) -> None:
    http = client(built[0])
    assert login(http, "nobody") == 401
    assert login(http, "Robert'); DROP") == 401


def test_an_action_needs_the_sessions_csrf_token(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "operator")
    assert http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1"}).status_code == 403
    assert http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": "guess"}).status_code == 403
    assert outbox.actions == []
    token = csrf_of(http.get("/alerts/a1").text)
    answer = http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts/a1?done=ACKNOWLEDGED"
    assert [(a.action.value, a.actor, a.child_id) for a in outbox.actions] == [("ACKNOWLEDGED", "operator", CHILD)]
    assert outbox.audits[-1]["action"] == "console_acknowledged" and outbox.audits[-1]["child_id"] == CHILD
    assert outbox.audits[-1]["action_id"] == outbox.actions[0].action_id
    entry = made.state.alert("a1")
    assert entry is not None and triage(entry, made.now()).status is Triage.ACKNOWLEDGED
    assert "Acknowledged." in http.get("/alerts/a1?done=ACKNOWLEDGED").text


def test_a_session_replayed_after_logout_is_refused(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    login(http, "operator")
    cookie = http.cookies[SESSION_COOKIE]
    token = csrf_of(http.get("/").text)
    assert http.post("/logout", data={"csrf": token}).headers["location"] == "/login"
    replay = client(made)
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert replay.get("/").status_code == 303
    assert replay.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token}).status_code == 303
    forged = client(made)
    forged.cookies.set(SESSION_COOKIE, cookie[:-2] + "xx")
    assert forged.get("/").status_code == 303


def test_a_removed_user_loses_their_session(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    login(http, "operator")
    assert http.get("/").status_code == 200
    made.users.remove("operator")
    assert http.get("/").status_code == 303


def test_an_analyst_sees_no_buttons_and_is_refused(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "analyst")
    page = http.get("/alerts/a1").text
    assert "act-acknowledge" not in page and "reads only" in page
    token = csrf_of(page)  # the logout form's
    for kind in ("ACKNOWLEDGED", "NOTE_ADDED", "CLOSED_BY_HAND"):
        refused = http.post(f"/alerts/a1/actions/{kind}", data={"sequence": "1", "csrf": token, "note": "x",
                                                                "reason": "DUPLICATE"})
        assert refused.status_code == 403
    assert outbox.actions == []


def test_an_operator_may_not_assign_or_close(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "operator")
    page = http.get("/alerts/a1").text
    assert "act-acknowledge" in page and "act-assign" not in page and "act-close" not in page
    token = csrf_of(page)
    assert http.post("/alerts/a1/actions/ASSIGNED", data={"sequence": "1", "csrf": token,
                                                          "assignee": "maria"}).status_code == 403
    supervisor = client(made)
    login(supervisor, "supervisor")
    page = supervisor.get("/alerts/a1").text
    assert "act-assign" in page and "act-close" in page
    assert supervisor.post("/alerts/a1/actions/ASSIGNED", data={"sequence": "1", "csrf": csrf_of(page),
                                                                "assignee": "maria"}).status_code == 303
    assert [a.assignee for a in outbox.actions] == ["maria"]


def test_acting_on_a_stale_view_is_refused(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "operator")
    token = csrf_of(http.get("/alerts/a1").text)
    made.state.apply_alert(change("a1", 2, change="ESCALATED", severity="CRITICAL"))
    answer = http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token})
    assert answer.status_code == 409 and "changed while you were looking" in answer.text
    assert http.post("/alerts/nope/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token}).status_code == 404
    bad = http.post("/alerts/a1/actions/NOTE_ADDED", data={"sequence": "2", "csrf": token, "note": " "})
    assert bad.status_code == 400 and "note is empty" in bad.text
    assert outbox.actions == []


def test_nothing_is_shown_or_done_when_the_audit_cannot_be_written(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "operator")
    token = csrf_of(http.get("/").text)
    outbox.fail = True
    child = http.get(f"/children/{CHILD}")
    assert child.status_code == 503 and "LOST_CONTACT" not in child.text
    assert http.post("/alerts/a1/actions/ACKNOWLEDGED", data={"sequence": "1", "csrf": token}).status_code == 503
    assert outbox.actions == []


def test_the_childs_page_is_audited_and_shows_alerts_and_actions(built: tuple[Console, RecordingOutbox]) -> None:
    made, outbox = built
    http = client(made)
    login(http, "operator")
    token = csrf_of(http.get("/alerts/a1").text)
    http.post("/alerts/a1/actions/NOTE_ADDED", data={"sequence": "1", "csrf": token, "note": "<b>called</b>"})
    page = http.get(f"/children/{CHILD}")
    assert page.status_code == 200 and "LOST_CONTACT" in page.text and "NOTE ADDED" in page.text
    assert "&lt;b&gt;called&lt;/b&gt;" in page.text and "<b>called</b>" not in page.text
    assert "no sink in unit tests" in page.text
    assert outbox.audits[-1]["action"] == "console_view_child" and outbox.audits[-1]["child_id"] == CHILD
    assert http.get("/children/A123456789").status_code == 404


def test_health_and_readiness(built: tuple[Console, RecordingOutbox]) -> None:
    made, _ = built
    http = client(made)
    assert http.get("/healthz").status_code == 200
    made.ready = lambda: (False, "waiting for the alerts topic")
    ready = http.get("/readyz")
    assert ready.status_code == 503 and "waiting for the alerts topic" in ready.text
