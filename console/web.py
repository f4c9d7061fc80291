"""What the console's request handlers share: templates, sessions of requests, error
pages, security headers, and the small endpoints (health, readiness, the live stream).

Pages are rendered on the server (Jinja2, autoescaped); the browser runs one small
script (`static/console.js`) for live updates. Nothing is loaded from elsewhere, and the
Content-Security-Policy says so: scripts, styles and connections from this origin only.
The routes are put together in `console.routes`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ucwatch.console.context import Console
from ucwatch.console.sessions import SESSION_COOKIE, Session
from ucwatch.console.subjects import operations_subject

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _age(value: Any, now: datetime) -> str:
    """A duration in its largest whole unit: 40 min, 5 h, 3 d, 2 y."""
    if not isinstance(value, datetime):
        return ""
    seconds = max(0.0, (now - value).total_seconds())
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds // 60)} min" if seconds >= 60 else "<1 min"


def _short(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else _when(value)


def _words(value: Any) -> str:
    """A status code as words, acronyms kept: NTA_SERVED -> NTA served, LEFT_HHS_CARE -> left HHS care."""
    words = str(value or "").replace("_", " ").lower().split()
    return " ".join(word.upper() if word.upper() in ACRONYMS else word for word in words)


ACRONYMS = frozenset({"NTA", "FTA", "HHS", "DHS", "ICE", "CBP", "ORR", "EOIR", "PRS"})
templates.filters["words"] = _words
templates.filters["when"] = _when
templates.filters["short"] = _short
templates.filters["age"] = _age
templates.globals["operations_subject"] = operations_subject


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    html = templates.get_template(name).render(request=request, session=session, **context)
    return HTMLResponse(html, status_code=status_code)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def session_of(request: Request) -> Session | None:
    """The request's live session (also kept on `request.state` for the templates); a user
    removed, or given another role, since logging in has none."""
    console = console_of(request)
    session = console.sessions.resume(request.cookies.get(SESSION_COOKIE), console.monotonic())
    if session is not None:
        user = console.users.load().get(session.user)
        if user is None or user.role is not session.role:  # removed or changed since login
            console.sessions.end(session)
            session = None
    request.state.session = session
    return session


def to_login(request: Request) -> Response:
    if request.headers.get("x-requested-with") == "fetch" or request.url.path == "/events":
        return PlainTextResponse("not logged in", status_code=401)
    return RedirectResponse("/login", status_code=303)


def failure(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)


async def healthz(request: Request) -> Response:
    ok, reason = console_of(request).live()
    return PlainTextResponse(("ok: " if ok else "failing: ") + reason, status_code=200 if ok else 503)


async def readyz(request: Request) -> Response:
    ok, reason = console_of(request).ready()
    return PlainTextResponse(("ready: " if ok else "not ready: ") + reason, status_code=200 if ok else 503)


async def events(request: Request) -> Response:
    """Server-Sent Events: a message whenever an alert changes or an action is read back."""
    if session_of(request) is None:
        return to_login(request)
    return StreamingResponse(console_of(request).broadcaster.stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response (a plain ASGI middleware: streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)
        await self.app(scope, receive, with_headers)
