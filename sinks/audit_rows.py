"""Audit entries (JSON on the audit topic, `ucwatch.core.audit`) to rows of the `audit` table.

The audit topic is the one landed topic that is not Avro: each record is one JSON object
made by `core.audit.audit_entry` (console views and actions, CLI reads, analysts' queries).
The fields every entry has, and the ones the console filters on, get columns; whatever an
entry carries beyond them (a query's text, the queue's filters, a lock-out flag) goes into
`details`, a JSON object with sorted keys, so a new kind of entry needs no migration.

What an entry identifies: the actor (a staff account, or the operating-system user), the
host, and pseudonymous ids (child token, alert id, action id). No child's name or address
exists upstream to carry (domain.md, "Privacy expectations").

An entry that is not a JSON object, or lacks `at`, `action` or `actor`, or whose `at` is
not an ISO-8601 time, is a ContractError: the sink dead-letters it, like an undecodable
Avro record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ucwatch.core.errors import ContractError

RECORD_NAME = "AuditEntry"
"""The name the sink files an audit record under (it has no schema name of its own)."""
AUDIT_FIELDS = ("at", "action", "actor", "role", "via", "os_user", "host", "child_id", "alert_id", "action_id",
                "details")
_REQUIRED = ("at", "action", "actor")
_TEXT = ("action", "actor", "role", "via", "os_user", "host")
_OPTIONAL_IDS = ("child_id", "alert_id", "action_id")
_COLUMNS = frozenset(AUDIT_FIELDS) - {"details"}
"""Fields with a column of their own (an entry's own `details` key, if any, goes into details too)."""


def decode_audit(value: bytes) -> tuple[str, dict[str, Any]]:
    """(RECORD_NAME, the entry) of one audit record; ContractError when it is not one."""
    try:
        entry = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError("not_json", f"an audit record is not JSON ({type(exc).__name__})") from None
    if not isinstance(entry, dict):
        raise ContractError("not_an_object", f"an audit record is a JSON {type(entry).__name__}, not an object")
    for name in _REQUIRED:
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise ContractError("missing_field", f"an audit record has no {name}", field=name)
    try:
        at = datetime.fromisoformat(entry["at"])
    except ValueError:
        raise ContractError("bad_timestamp", "an audit record's at is not an ISO-8601 time", field="at") from None
    entry["at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return RECORD_NAME, entry


def audit_row(entry: dict[str, Any], name: str | None = None) -> list[Any]:
    """The row of a decoded entry, in `AUDIT_FIELDS` order."""
    row: list[Any] = [entry["at"]]
    row += [str(entry.get(field) or "") for field in _TEXT]
    row += [None if entry.get(field) in (None, "") else str(entry[field]) for field in _OPTIONAL_IDS]
    rest = {k: v for k, v in entry.items() if k not in _COLUMNS}
    row.append(json.dumps(rest, sort_keys=True, default=str) if rest else "{}")
    return row
