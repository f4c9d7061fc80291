"""What giving up on a notice writes: a dead letter and a CRITICAL NOTICE_UNDELIVERED alert.

The alert is an AlertChanged record (schemas/avro/alerts) on the alerts topic, so it
reaches the console and ClickHouse like every alert of the detector, keyed by child_id.
Its content depends only on the notice and the last failure the delivery log holds, so
giving up again after a restart writes the same record (same id, sequence 1, same times):
a repeat downstream can collapse it.
"""

from __future__ import annotations

from typing import Any

from ucwatch.core import deadletter
from ucwatch.core.deadletter import DeadLetter
from ucwatch.core.pseudonym import is_synthetic_token
from ucwatch.notify.delivery import Endpoint, Source
from ucwatch.notify.ids import UNDELIVERED_RULE, undelivered_alert_id

REASON_CODE = "notice_undelivered"
BASIS = "notices the agencies failed to send are sent by ucwatch (OIG-24-46 rec. 2); docs/notify.md"


def reason(notice: dict[str, Any], endpoint: Endpoint, attempts: int, detail: str) -> str:
    tried = f"after {attempts} attempt(s)" if attempts else "without an attempt"
    return (f"notice {notice['notification_id']} ({notice.get('kind')} for {endpoint.recipient}) "
            f"not delivered to {endpoint.name} {tried}: {detail}")


def dead_letter(source: Source, text: str) -> DeadLetter:
    return deadletter.for_record(reason_code=REASON_CODE, reason=text, stage="notify", topic=source.topic,
                                 partition=source.partition, offset=source.offset, value=source.value,
                                 key=source.key, event_type="NotificationSent")


def alert_record(notice: dict[str, Any], endpoint: Endpoint, text: str, at_ms: int) -> dict[str, Any]:
    child_id = str(notice["child_id"])
    notice_id = str(notice["notification_id"])
    return {"alert_id": undelivered_alert_id(child_id, notice_id, endpoint.name), "child_id": child_id,
            "rule": UNDELIVERED_RULE, "change": "OPENED", "status": "OPEN", "severity": "CRITICAL",
            "deadline": at_ms, "fired_at": at_ms, "reason": text, "start_event_id": notice_id,
            "basis": BASIS, "sequence": 1, "synthetic": is_synthetic_token(child_id)}
