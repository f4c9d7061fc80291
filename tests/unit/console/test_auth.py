"""Users file, lock-out and sessions, without HTTP."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from tests.unit.console.support import PASSWORD
from ucwatch.console.lockout import Lockout
from ucwatch.console.roles import Role
from ucwatch.console.sessions import SessionStore, csrf_matches
from ucwatch.console.users import UserStore
from ucwatch.console.users_command import users_command
from ucwatch.core.errors import SettingsError, UsageError
from ucwatch.core.settings import ConsoleSettings, Settings


def test_users_are_kept_hashed_in_a_private_file(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("maria", Role.SUPERVISOR, PASSWORD)
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    text = (tmp_path / "users.json").read_text()
    assert PASSWORD not in text and json.loads(text)["users"]["maria"]["hash"].startswith("$argon2id$")
    user = store.authenticate("maria", PASSWORD)
    assert user is not None and user.role is Role.SUPERVISOR
    assert store.authenticate("maria", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None


def test_bad_users_are_refused(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(UsageError, match="at least 12"):
        store.add("maria", Role.OPERATOR, "short")
    with pytest.raises(UsageError, match="not a user name"):
        store.add("Maria Lopez", Role.OPERATOR, PASSWORD)
    store.add("maria", Role.OPERATOR, PASSWORD)
    with pytest.raises(UsageError, match="exists already"):
        store.add("maria", Role.ADMIN, PASSWORD)
    with pytest.raises(UsageError, match="no user"):
        store.remove("nobody")


def test_a_users_file_others_can_read_is_refused(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("maria", Role.OPERATOR, PASSWORD)
    (tmp_path / "users.json").chmod(0o644)
    with pytest.raises(SettingsError, match="readable by others"):
        store.load()


def test_users_command_reads_the_password_from_stdin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, console=ConsoleSettings(users_file=str(tmp_path / "u.json")))
    out = io.StringIO()
    assert users_command(settings, "add", "ana", "analyst", stdin=io.StringIO(PASSWORD + "\n"), out=out) == 0
    users_command(settings, "list", None, None, out=out)
    assert "added ana (analyst)" in out.getvalue() and "ana" in out.getvalue().splitlines()[-1]
    assert UserStore(tmp_path / "u.json").authenticate("ana", PASSWORD) is not None


def test_lockout_counts_failures_in_a_row_and_runs_out() -> None:
    lockout = Lockout(max_failures=3, lock_s=60)
    assert not lockout.failed("maria", 0) and not lockout.failed("maria", 1)
    assert lockout.failed("maria", 2) and lockout.locked("maria", 61) and not lockout.locked("maria", 63)
    assert not lockout.failed("maria", 70)  # a fresh count after the lock
    lockout.succeeded("maria")
    assert not lockout.failed("maria", 71) and not lockout.failed("maria", 72)


def test_sessions_expire_when_idle_or_old_and_end_for_good() -> None:
    store = SessionStore(idle_s=100, max_s=1000)
    session, cookie = store.start("maria", Role.OPERATOR, 0)
    assert store.resume(cookie, 50) is session
    assert store.resume(cookie, 200) is None  # idle for 150 s
    session, cookie = store.start("maria", Role.OPERATOR, 0)
    for now in range(90, 1000, 90):
        assert store.resume(cookie, now) is session
    assert store.resume(cookie, 1010) is None  # too old, although in use
    session, cookie = store.start("maria", Role.OPERATOR, 0)
    store.end(session)
    assert store.resume(cookie, 1) is None
    assert store.resume(session.sid, 1) is None  # an unsigned id is not a cookie


def test_csrf_comparison() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches("abc", "abd") and not csrf_matches("abc", None) and not csrf_matches("", "")
