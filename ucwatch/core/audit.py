"""The audit trail: every read of a child's records and every action on an alert.

Each entry is a JSON record on the audit topic, keyed by child_id: who (UCWATCH_ACTOR,
else the operating-system user), on which host, what, about which child, when (wall
clock: the audit records when people acted, not event time). Writing the entry comes
before showing anything: if the audit topic cannot be written, nothing is shown.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.errors import DeliveryError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings


def actor() -> str:
    return os.environ.get("UCWATCH_ACTOR") or getpass.getuser()


def record_access(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
    entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "actor": actor(),
             "host": socket.gethostname(), "action": action, "child_id": child_id, **details}
    producer = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all"})
    failures: list[str] = []
    producer.produce(settings.topics.audit.name, json.dumps(entry).encode(),
                     child_id.encode() if child_id else None,
                     on_delivery=lambda error, message: failures.append(error.str()) if error else None)
    if producer.flush(30) or failures:
        raise DeliveryError(1, f"the audit entry could not be written ({failures[:1]}); nothing is shown")
