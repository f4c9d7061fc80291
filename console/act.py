"""Taking an action on an alert: ``POST /alerts/{alert_id}/actions/{ACTION}``.

The checks, in order, each with its own answer:

1. a live session (else to the login page; 401 for scripts);
2. the form's CSRF token is the session's (403);
3. the role may take this action (`console.roles`; 403, whatever the page showed);
4. the alert is known (404) and the form was made for its current change: the hidden
   ``sequence`` is the latest one (409 otherwise: the alert changed while the person
   looked at it, so they must look again); acknowledging, snoozing, assigning and closing
   need an open alert not closed by hand (409);
5. the action's own fields are valid (`console.actions.new_action`; 400).

Then the audit entry is written, then the action; each must be acknowledged by Kafka,
else 503 and the person is told it was not done. The action is folded into the state at
once (the feed reads it back later and, by its action_id, changes nothing), so the page
the person returns to shows it.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ucwatch.console.actions import ActionKind, ActionRefused, new_action
from ucwatch.console.fold import Triage, triage
from ucwatch.console.roles import may
from ucwatch.console.sessions import csrf_matches
from ucwatch.console.subjects import operations_subject
from ucwatch.console.web import console_of, failure, session_of, to_login
from ucwatch.core.errors import DeliveryError

NEEDS_OPEN = frozenset({ActionKind.ACKNOWLEDGED, ActionKind.SNOOZED, ActionKind.ASSIGNED, ActionKind.CLOSED_BY_HAND})


async def take_action(request: Request) -> Response:  # noqa: PLR0911 (one answer per check, in order)
    console = console_of(request)
    session = session_of(request)
    if session is None:
        return to_login(request)
    form = {k: str(v) for k, v in (await request.form(max_fields=20, max_files=0)).items()}
    if not csrf_matches(session.csrf, form.get("csrf")):
        return failure(request, 403, "The form's security token is missing or wrong; nothing was done.")
    kind, alert_id = request.path_params["kind"], request.path_params["alert_id"]
    if kind not in ActionKind.__members__:
        return failure(request, 404, f"There is no action {kind!r}.")
    action_kind = ActionKind(kind)
    if not may(session.role, kind):
        return failure(request, 403, f"Your role ({session.role.value}) may not do this; nothing was done.")
    now = console.now()
    with console.lock:
        entry = console.state.alert(alert_id)
        latest = entry.latest if entry else None
        status = triage(entry, now).status if entry else None
    if entry is None or latest is None:
        return failure(request, 404, "There is no such alert.")
    if form.get("sequence") != str(latest.sequence):
        return failure(request, 409, "The alert changed while you were looking at it; nothing was done. "
                                     "Open it again to see what changed.")
    if action_kind in NEEDS_OPEN and (latest.status != "OPEN" or status is Triage.CLOSED_BY_HAND):
        return failure(request, 409, f"The alert is {latest.status.lower()}"
                                     f"{' (closed by hand)' if status is Triage.CLOSED_BY_HAND else ''}; "
                                     "it can take notes and follow-ups only.")
    try:
        action = new_action(kind, alert_id=alert_id, alert_sequence=latest.sequence, child_id=latest.child_id,
                            actor=session.user, role=session.role, form=form, now=now, synthetic=latest.synthetic)
    except ActionRefused as exc:
        return failure(request, 400, f"Nothing was done: {exc}")
    try:
        child_id = None if operations_subject(latest.child_id) else latest.child_id  # real children only
        await run_in_threadpool(console.outbox.audit, f"console_{kind.lower()}", child_id, actor=session.user,
                                role=session.role.value, alert_id=alert_id, action_id=action.action_id)
        await run_in_threadpool(console.outbox.action, action)
    except DeliveryError as exc:  # AuditNotWritten is one
        return failure(request, 503, f"Nothing was done: Kafka did not take it ({exc}).")
    console.metrics.actions.labels(kind).inc()
    with console.lock:
        console.state.apply_action(action)
    console.broadcaster.publish({"kind": "action", "alert_id": alert_id, "action": kind})
    return RedirectResponse(f"/alerts/{quote(alert_id, safe='')}?done={kind}",
                            status_code=303)
