"""Logging in and out.

The login form carries a double-submit CSRF token (cookie and hidden field, compared in
constant time). A failed login says only "wrong user name or password", whatever was
wrong; after `console.max_failed_logins` failures in a row the name is locked for
`console.lockout_minutes`, and the page says so. Logins and lock-outs are audit-logged
(actor: the name typed); a login that cannot be audit-logged does not happen.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ucwatch.console.sessions import LOGIN_COOKIE, SESSION_COOKIE, csrf_matches, new_login_token
from ucwatch.console.users import USER_NAME
from ucwatch.console.web import console_of, failure, render, session_of
from ucwatch.core.errors import AuditNotWritten

MAX_FIELD = 1024


async def login_form(request: Request, message: str = "", status_code: int = 200) -> Response:
    token = new_login_token()
    response = render(request, "login.html", status_code=status_code, login_token=token, message=message)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=console_of(request).settings.console.secure_cookies)
    return response


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await request.form(max_fields=10)
    name = str(form.get("user", ""))[:MAX_FIELD].strip().lower()
    password = str(form.get("password", ""))[:MAX_FIELD]
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), str(form.get("csrf", ""))):
        return await login_form(request, "The form expired; please log in again.", 403)
    now = console.monotonic()
    if not USER_NAME.match(name):
        return await login_form(request, "Wrong user name or password.", 401)
    if console.lockout.locked(name, now):
        return await login_form(request, "Too many failed attempts: this user name is locked for a while.", 429)
    user = await run_in_threadpool(console.users.authenticate, name, password)
    try:
        if user is None:
            locked = console.lockout.failed(name, now)
            await run_in_threadpool(console.outbox.audit, "console_login_failed", None, actor=name, role="",
                                    locked=locked)
            message = ("Too many failed attempts: this user name is locked for a while." if locked
                       else "Wrong user name or password.")
            return await login_form(request, message, 429 if locked else 401)
        await run_in_threadpool(console.outbox.audit, "console_login", None, actor=user.name, role=user.role.value)
    except AuditNotWritten as exc:
        return failure(request, 503, f"Not logged in: {exc}")
    console.lockout.succeeded(name)
    _, cookie = console.sessions.start(user.name, user.role, now)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", path="/",
                        secure=console.settings.console.secure_cookies)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    console = console_of(request)
    session = session_of(request)
    if session is not None:
        form = await request.form(max_fields=10)
        if not csrf_matches(session.csrf, str(form.get("csrf", ""))):
            return failure(request, 403, "The form's security token is missing or wrong; nothing was done.")
        console.sessions.end(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
