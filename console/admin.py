"""``GET /admin``: the console's users and the latest audit entries, for the admin role only.

Users are listed from the users file (adding and removing them is `ucwatch users`, on the
host: a web form that grants rights would be one more thing to attack). The audit
entries are the last ones read from the audit topic (`console.auditlog`), newest first;
the full trail is in ClickHouse. Other roles get 403, whatever link they followed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ucwatch.console.pages import audit_view
from ucwatch.console.roles import Role
from ucwatch.console.web import console_of, failure, render, session_of, to_login

SHOWN = 200


async def admin(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    if session.role is not Role.ADMIN:
        return failure(request, 403, f"Your role ({session.role.value}) may not see the admin page.")
    denied = await audit_view(request, session, "console_view_admin", None, reads="users, audit entries")
    if denied is not None:
        return denied
    console = console_of(request)
    console.metrics.page_views.labels("admin").inc()
    users = sorted(console.users.load().values(), key=lambda u: u.name)
    return render(request, "admin.html", users=users, entries=console.audit_log.latest(SHOWN),
                  unreadable=console.audit_log.unreadable, shown=SHOWN)
