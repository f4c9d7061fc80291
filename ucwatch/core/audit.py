"""The audit trail: every read of a child's records and every action on an alert.

Each entry is a JSON record on the audit topic, keyed by child_id (no key for a read of
every child): who (`actor`: UCWATCH_ACTOR, else the operating-system user), the
operating-system user in any case (`os_user`, since UCWATCH_ACTOR is only what the caller
says), on which host, what, about which child, when (wall clock: the audit records when
people acted, not event time). Writing the entry comes before showing anything: if the
audit topic cannot be written, nothing is shown.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.errors import AuditNotWritten, TopicMissing
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings

FLUSH_TIMEOUT_S = 30.0


def os_user() -> str:
    """The operating-system user running this process (its uid when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid:{os.getuid()}"


def actor(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("UCWATCH_ACTOR") or os_user()


def audit_entry(action: str, child_id: str | None, *, environ: Mapping[str, str] | None = None,
                **details: Any) -> dict[str, Any]:
    """The audit record of one action (pure, but for the clock, host and user)."""
    return {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "actor": actor(environ),
            "os_user": os_user(), "host": socket.gethostname(), "action": action, "child_id": child_id,
            **details}


def record_access(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
    """Writes the entry and waits for the broker's acknowledgement; raises TopicMissing or
    AuditNotWritten (nothing may be shown then)."""
    write_entry(settings, audit_entry(action, child_id, **details))


def write_entry(settings: Settings, entry: dict[str, Any]) -> None:
    """Writes an entry made by `audit_entry` (with its actor: e.g. the one the query service
    authenticated) and waits for the broker's acknowledgement; raises as `record_access`."""
    action, child_id = str(entry["action"]), entry.get("child_id")
    topic = settings.topics.audit.name
    producer = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all"})
    # A missing topic would otherwise wait out the whole flush timeout.
    metadata = producer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        detail = metadata.error.str() if metadata is not None and metadata.error else "no such topic"
        raise TopicMissing(topic, detail, access="written, so nothing is shown")
    failures: list[str] = []
    producer.produce(topic, json.dumps(entry).encode(), child_id.encode() if child_id else None,
                     on_delivery=lambda error, message: failures.append(error.str()) if error else None)
    if producer.flush(FLUSH_TIMEOUT_S):
        failures.append(f"not acknowledged within {FLUSH_TIMEOUT_S:.0f} s")
    if failures:
        raise AuditNotWritten(action, failures[0])
