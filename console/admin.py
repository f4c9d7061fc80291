"""``GET /admin``: the console's users and the audit trail, for the admin role only.

Users are listed from the users file (adding and removing them is `ucwatch users`, on the
host: a web form that grants rights would be one more thing to attack). The audit trail
is read from ClickHouse (`console.audit_trail`: the sink lands the audit topic), newest
first, a page at a time, filtered by actor, child and action. Other roles get 403,
whatever link they followed.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ucwatch.console.audit_trail import AuditFilter
from ucwatch.console.pages import audit_view
from ucwatch.console.roles import Role
from ucwatch.console.web import console_of, failure, render, session_of, to_login


async def admin(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    if session.role is not Role.ADMIN:
        return failure(request, 403, f"Your role ({session.role.value}) may not see the admin page.")
    wanted = AuditFilter.from_query(dict(request.query_params))
    denied = await audit_view(request, session, "console_view_admin", wanted.child or None,
                              reads="users, audit entries",
                              filters={"actor": wanted.actor, "child": wanted.child, "action": wanted.action,
                                       "page": wanted.page})
    if denied is not None:
        return denied
    console = console_of(request)
    console.metrics.page_views.labels("admin").inc()
    users = sorted(console.users.load().values(), key=lambda u: u.name)
    trail = await run_in_threadpool(console.audit, wanted)
    return render(request, "admin.html", users=users, trail=trail, wanted=wanted)
