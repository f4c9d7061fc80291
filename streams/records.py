"""The detection outputs as Avro records, and lifecycle records decoded for the engine.

One place maps between the engine's plain objects and the output schemas
(schemas/avro/{alerts,notifications,state,control}); the faust glue only moves bytes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ucwatch.core.pseudonym import is_synthetic_token
from ucwatch.schemas.catalog import Catalog, SchemaVersion
from ucwatch.streams.engine import AlertChange, Notification

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_EPOCH_DAY = date(1970, 1, 1)
TIMESTAMP_FIELDS = ("occurred_at", "recorded_at", "hearing_at", "next_hearing_at")


class OutputSchemas:
    def __init__(self, catalog: Catalog) -> None:
        self.tick: SchemaVersion = catalog.latest("ClockTick", "control")
        self.alert: SchemaVersion = catalog.latest("AlertChanged", "alerts")
        self.notification: SchemaVersion = catalog.latest("NotificationSent", "notifications")
        self.state: SchemaVersion = catalog.latest("ChildStateSnapshot", "state")


def alert_record(change: AlertChange) -> dict[str, Any]:
    return {"alert_id": change.alert_id, "child_id": change.child_id, "rule": change.rule,
            "change": change.change, "status": change.status, "severity": change.severity,
            "deadline": change.deadline_ms, "fired_at": change.fired_at_ms, "reason": change.reason,
            "start_event_id": change.start_event_id, "basis": change.basis, "sequence": change.sequence,
            "synthetic": is_synthetic_token(change.child_id)}


def notification_record(notification: Notification) -> dict[str, Any]:
    return {"notification_id": notification.notification_id, "child_id": notification.child_id,
            "recipient": notification.recipient, "kind": notification.kind,
            "fact_id": notification.fact_event_id, "occurred_at": notification.occurred_at_ms,
            "reason": notification.reason, "corrects_notification_id": notification.corrects_notification_id,
            "synthetic": is_synthetic_token(notification.child_id)}


def state_record(snapshot: dict[str, Any], as_of_ms: int) -> dict[str, Any]:
    return {"child_id": snapshot["child_id"], "custody_status": snapshot["custody_status"],
            "contact_status": snapshot["contact_status"], "court_status": snapshot["court_status"],
            "next_hearing_at": snapshot.get("next_hearing_at_ms"),
            "last_contact_at": snapshot.get("last_contact_at_ms"),
            "last_event_at": snapshot.get("last_event_at_ms"), "events_seen": snapshot["events_seen"],
            "open_alerts": snapshot["open_alerts"],  # {alert_id, rule, severity}: the schema's OpenAlert
            "as_of": as_of_ms, "synthetic": is_synthetic_token(snapshot["child_id"]),
            "release_state": snapshot.get("release_state")}


def tick_record(tick_at_ms: int, partition: int, issued_by: str) -> dict[str, Any]:
    return {"tick_at": tick_at_ms, "partition": partition, "issued_by": issued_by}


def engine_event(decoded: dict[str, Any]) -> dict[str, Any]:
    """A decoded lifecycle record with its timestamps as UTC milliseconds and its birth date
    as ISO text, as the engine wants. The worker decodes without Avro's logical types
    (timestamps arrive as those milliseconds, the date as days since the epoch: half the
    decoding cost); a record decoded with them (datetimes, a date) is converted too."""
    event = dict(decoded)
    for name in TIMESTAMP_FIELDS:
        value = event.get(name)
        if isinstance(value, datetime):
            event[name] = (value - EPOCH) // _ONE_MS
    birth = event.get("birth_date")
    if isinstance(birth, date):
        event["birth_date"] = birth.isoformat()
    elif isinstance(birth, int):
        event["birth_date"] = (_EPOCH_DAY + timedelta(days=birth)).isoformat()
    return event
