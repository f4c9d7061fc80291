"""Sessions and CSRF tokens.

A session lives on the server (in memory); the cookie carries only its random id, signed
with a key made at start (itsdangerous), so a forged or altered cookie is refused before
any lookup. Because the server holds the session, logging out ends it for good: the same
cookie replayed afterwards is refused. A session ends after `idle_s` unused or `max_s`
after login; a restart of the console ends every session.

Each session has its own CSRF token, put in every form as a hidden field and compared in
constant time on every POST. The login form, which comes before any session, uses a
double-submit token instead: a random value both in a cookie and in the form.

Cookies are HttpOnly and SameSite=Strict, and Secure when `console.secure_cookies` is set.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

from ucwatch.console.roles import Role

SESSION_COOKIE = "ucwatch_session"
LOGIN_COOKIE = "ucwatch_login"


@dataclass
class Session:
    sid: str
    user: str
    role: Role
    csrf: str
    started: float
    last_seen: float


class SessionStore:
    def __init__(self, idle_s: float, max_s: float, *, key: bytes | None = None) -> None:
        self._signer = Signer(key or secrets.token_bytes(32), salt="ucwatch-console-session")
        self._idle_s = idle_s
        self._max_s = max_s
        self._sessions: dict[str, Session] = {}

    def start(self, user: str, role: Role, now: float) -> tuple[Session, str]:
        """A new session (a fresh id at every login) and its cookie value."""
        session = Session(secrets.token_urlsafe(32), user, role, secrets.token_urlsafe(32), now, now)
        self._sessions[session.sid] = session
        return session, self._signer.sign(session.sid).decode()

    def resume(self, cookie: str | None, now: float) -> Session | None:
        """The live session of a cookie, or None (no cookie, forged, ended or expired)."""
        if not cookie:
            return None
        try:
            sid = self._signer.unsign(cookie).decode()
        except BadSignature:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        if now - session.last_seen > self._idle_s or now - session.started > self._max_s:
            del self._sessions[sid]
            return None
        session.last_seen = now
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)

    def end_all_of(self, user: str) -> None:
        for sid in [s.sid for s in self._sessions.values() if s.user == user]:
            del self._sessions[sid]


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())


def new_login_token() -> str:
    return secrets.token_urlsafe(24)
