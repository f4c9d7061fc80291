"""What a receiver gets: a notice as a JSON body, or as an e-mail.

Both carry every field of the notice record as decoded with the newest
`NotificationSent` schema, whatever its kind (a failure to appear, a runaway, a
correction of an earlier notice...), so a new kind or a new field reaches the agencies
without a change here. Timestamps are ISO-8601 UTC with milliseconds; keys are sorted, so
the same notice always gives the same bytes.

    {"child_id": "SYN-CH-000000003", "fact_id": "...", "kind": "FAILURE_TO_APPEAR",
     "notification_id": "3f1c...", "occurred_at": "2021-03-01T22:00:00.000Z",
     "reason": "...", "recipient": "HHS", "synthetic": true}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from ucwatch.notify.ids import idempotency_key, message_id


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def json_body(notice: Mapping[str, Any]) -> bytes:
    return json.dumps(jsonable(notice), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def subject(notice: Mapping[str, Any]) -> str:
    prefix = "[ucwatch][SYNTHETIC]" if notice.get("synthetic") else "[ucwatch]"
    return f"{prefix} {notice.get('kind', 'NOTICE')} for {notice.get('recipient', '?')}: {notice['notification_id']}"


def email_message(notice: Mapping[str, Any], sender: str, to: list[str], now: datetime) -> EmailMessage:
    notice_id = str(notice["notification_id"])
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject(notice)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notice_id)
    message["Idempotency-Key"] = idempotency_key(notice_id)
    message["X-Ucwatch-Notice-Id"] = notice_id
    lines = [f"A notice from ucwatch ({notice.get('kind', 'NOTICE')}).",
             "Identifiers are pseudonymous tokens; resolve them in your own system.", ""]
    lines += [f"{name}: {value}" for name, value in sorted(jsonable(notice).items())]
    lines += ["", "The same notice as JSON:", json_body(notice).decode("ascii")]
    message.set_content("\n".join(lines) + "\n")
    return message
