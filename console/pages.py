"""The pages people read: the alert queue, one alert, one child.

Every page that shows a child's records (an alert, a child's timeline) and the queue
itself is audit-logged, with the logged-in user as actor, before it is rendered; if the
entry cannot be written the page is not shown (503). The queue's live refreshes
(`/queue/fragment`, fetched by the page when the feed says something changed) belong to
the view already logged and are not logged again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ucwatch.console.actions import CHILD_TOKEN, CloseReason, FollowUpOutcome
from ucwatch.console.children import RELEASE_FILTERS
from ucwatch.console.fold import triage
from ucwatch.console.notices import thread_notices, withdrawal
from ucwatch.console.pending import awaited_source, pending_since
from ucwatch.console.queue import AGE_FILTERS, NO_STATE, TRIAGE_FILTERS, QueueFilter, queue_page
from ucwatch.console.responsibility import AGENCIES, AGENCY_NAMES, UNKNOWN, agencies_for
from ucwatch.console.roles import ALLOWED_ACTIONS
from ucwatch.console.sessions import Session
from ucwatch.console.subjects import operations_subject
from ucwatch.console.web import console_of, failure, render, session_of, to_login
from ucwatch.core.errors import AuditNotWritten

DONE = {"ACKNOWLEDGED": "Acknowledged.", "ASSIGNED": "Assigned.", "NOTE_ADDED": "Note added.",
        "SNOOZED": "Snoozed.", "FOLLOW_UP_RECORDED": "Follow-up recorded.", "CLOSED_BY_HAND": "Closed by hand."}
"""What the alert page says after an action (`?done=ACTION`): fixed texts, nothing echoed."""


async def queue(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    wanted = QueueFilter.from_query(dict(request.query_params))
    denied = await audit_view(request, session, "console_view_queue", None, filters=wanted.__dict__)
    if denied is not None:
        return denied
    console_of(request).metrics.page_views.labels("queue").inc()
    return render(request, "queue.html", **_queue_context(request, wanted))


async def queue_fragment(request: Request) -> Response:
    if session_of(request) is None:
        return to_login(request)
    console_of(request).metrics.page_views.labels("queue_fragment").inc()
    wanted = QueueFilter.from_query(dict(request.query_params))
    return render(request, "_queue.html", **_queue_context(request, wanted))


async def alert(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    console = console_of(request)
    alert_id = request.path_params["alert_id"]
    with console.lock:
        entry = console.state.alert(alert_id)
        if entry is not None:
            changes = [entry.changes[s] for s in sorted(entry.changes)]
            actions = list(entry.actions)
            view = triage(entry, console.now())
    if entry is None or entry.latest is None:
        return failure(request, 404, "There is no such alert (or it has not been read from Kafka yet).")
    latest = entry.latest
    child_id = None if operations_subject(latest.child_id) else latest.child_id  # an audit names real children only
    denied = await audit_view(request, session, "console_view_alert", child_id, alert_id=alert_id)
    if denied is not None:
        return denied
    console.metrics.page_views.labels("alert").inc()
    return render(request, "alert.html", alert=latest, agencies=agencies_for(latest.rule), changes=changes,
                  actions=actions, triage=view,
                  allowed=ALLOWED_ACTIONS[session.role], outcomes=list(FollowUpOutcome), reasons=list(CloseReason),
                  message=DONE.get(request.query_params.get("done", ""), ""))


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    clock: str
    """event time, recorded, or wall clock: which time `at` is."""
    kind: str
    what: str
    detail: str
    link: str = ""


async def child(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    console = console_of(request)
    child_id = request.path_params["child_id"]
    if not CHILD_TOKEN.match(child_id):
        return failure(request, 404, "That is not a pseudonymous child id.")
    denied = await audit_view(request, session, "console_view_child", child_id,
                          reads="alerts, actions, notices, deliveries, lifecycle events, child state")
    if denied is not None:
        return denied
    console.metrics.page_views.labels("child").inc()
    history = await run_in_threadpool(console.history, child_id)
    now = console.now()
    items: list[TimelineItem] = []
    with console.lock:
        snapshot = console.children.snapshots.get(child_id)
        notices = console.children.child_notices(child_id)
        statuses = {n.notification_id: console.children.delivery_status(n.notification_id) for n, _ in notices}
        entries = console.state.child_alerts(child_id)
        alerts = [(e.latest, triage(e, now)) for e in entries]
        for entry in entries:
            for change in entry.changes.values():
                items.append(TimelineItem(change.fired_at, "event time", "alert", f"{change.rule} {change.change}",
                                          f"{change.severity}; {change.reason}", f"/alerts/{change.alert_id}"))
            for action in entry.actions:
                items.append(TimelineItem(action.at, "wall clock", "action", action.action.value,
                                          _action_detail(action), f"/alerts/{action.alert_id}"))
    threads = thread_notices(notices)
    corrected = {t.notice.notification_id for t in threads if t.corrected}
    for notice, deliveries in notices:
        reason = notice.reason
        if notice.corrects_notification_id is not None:
            reason = f"{withdrawal(notice)} (corrects notice {notice.corrects_notification_id})"
        elif notice.notification_id in corrected:
            reason = f"{reason} (corrected: withdrawn by a correction notice)"
        items.append(TimelineItem(notice.occurred_at, "event time", "notice", f"{notice.kind} to {notice.recipient}",
                                  _notice_detail(reason, statuses[notice.notification_id], deliveries)))
    for event in history.events:
        items.append(TimelineItem(_parse(event["occurred_at"]), "event time", "event", event["event_type"],
                                  _event_detail(event)))
    items.sort(key=lambda item: item.at)
    return render(request, "child.html", child_id=child_id, alerts=alerts, items=items, history=history,
                  snapshot=snapshot, notices=threads, statuses=statuses, withdrawal=withdrawal)


def _queue_context(request: Request, wanted: QueueFilter) -> dict[str, Any]:
    console = console_of(request)
    now = console.now()
    with console.lock:
        page = queue_page(console.state, wanted, now, console.settings.console.page_size, console.children)
        children = [row.entry.latest.child_id for row in page.rows if row.entry.latest is not None]
        custody = {child_id: console.children.custody(child_id) for child_id in children}
        release_state = {child_id: console.children.release_state(child_id) for child_id in children}
        # PENDING alerts: since when they wait and for which feed (read under the lock, as
        # the feed thread adds changes).
        waiting = {row.entry.alert_id: (pending_since(row.entry), awaited_source(row.entry.latest.reason))
                   for row in page.rows if wanted.status == "pending" and row.entry.latest is not None}
    ready, reason = console.ready()
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    return {"page": page, "wanted": wanted, "triage_filters": list(TRIAGE_FILTERS), "ready": ready,
            "not_ready": reason, "query": query, "agencies": [*AGENCIES, UNKNOWN], "agency_names": AGENCY_NAMES,
            "releases": list(RELEASE_FILTERS), "ages": list(AGE_FILTERS), "agencies_for": agencies_for,
            "custody": custody, "release_state": release_state, "no_state": NO_STATE, "now": now,
            "waiting": waiting}


async def audit_view(request: Request, session: Session, what: str, child_id: str | None,
                 **details: Any) -> Response | None:
    """Writes the view's audit entry; a 503 page when it cannot be written (nothing is shown)."""
    try:
        await run_in_threadpool(console_of(request).outbox.audit, what, child_id, actor=session.user,
                                role=session.role.value, path=request.url.path, **details)
    except AuditNotWritten as exc:
        return failure(request, 503, str(exc))
    return None


def _action_detail(action: Any) -> str:
    parts = [f"by {action.actor}"]
    for label, value in (("to", action.assignee), ("until", action.snoozed_until and action.snoozed_until.date()),
                         ("outcome:", _words(action.outcome)), ("reason:", _words(action.close_reason))):
        if value:
            parts.append(f"{label} {value}")
    if action.note:
        parts.append(f"note: “{action.note}”")
    return "; ".join(parts)


def _words(choice: Any) -> str:
    """An enum's value as words: LOCATED_HOME_VISIT_DONE -> located home visit done."""
    return str(choice.value).replace("_", " ").lower() if choice is not None else ""


def _notice_detail(reason: str, status: str, deliveries: list[Any]) -> str:
    parts = [reason, f"delivery: {status.lower().replace('_', ' ')}"]
    parts += [f"{d.endpoint} {d.outcome.lower()} (attempt {d.attempt}{f', {d.status_code}' if d.status_code else ''})"
              for d in deliveries]
    return "; ".join(p for p in parts if p)


def _event_detail(event: dict[str, Any]) -> str:
    skip = {"occurred_at", "event_type"}
    return "; ".join(f"{k} {v}" for k, v in event.items() if k not in skip and v not in (None, ""))


def _parse(text: str) -> datetime:
    at = datetime.fromisoformat(str(text).replace(" ", "T"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)
