"""What the console writes to Kafka: actions (Avro, actions topic) and audit entries (JSON,
audit topic), each acknowledged by the broker before the person is told it is done.

One idempotent producer (acks=all, Java's murmur2 partitioner so an action lands on the
partition number of its child's alerts). Both writes are keyed by child_id. The audit
entry is `ucwatch.core.audit.audit_entry` with the authenticated console user as actor,
plus the role and ``via: console``. `Outbox` is the seam the web layer sees; the unit
tests give it a recording fake, the integration test the real one.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from confluent_kafka import Producer

from ucwatch.console.actions import Action
from ucwatch.core.audit import audit_entry
from ucwatch.core.errors import AuditNotWritten, DeliveryError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Encoder

ACK_TIMEOUT_S = 15.0


class Outbox(Protocol):
    def audit(self, what: str, child_id: str | None, *, actor: str, role: str, **details: Any) -> None:
        """Writes one audit entry; raises AuditNotWritten when the broker did not take it."""

    def action(self, action: Action) -> None:
        """Writes one action; raises DeliveryError when the broker did not take it."""


class KafkaOutbox:
    def __init__(self, settings: Settings) -> None:
        catalog = default_catalog()
        self._schema = catalog.latest("AlertAction", "actions")
        self._actions_topic = settings.topics.actions.name
        self._audit_topic = settings.topics.audit.name
        self._encoder = Encoder(registry_for(settings.schema_registry, catalog), self._actions_topic)
        self._encode_lock = threading.Lock()
        self._producer = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                                   "partitioner": "murmur2_random", "linger.ms": 0,
                                   "delivery.timeout.ms": settings.kafka.delivery_timeout_ms})

    def audit(self, what: str, child_id: str | None, *, actor: str, role: str, **details: Any) -> None:
        entry = audit_entry(what, child_id, environ={"UCWATCH_ACTOR": actor}, role=role, via="console", **details)
        error = self._write(self._audit_topic, json.dumps(entry).encode(), child_id)
        if error:
            raise AuditNotWritten(what, error)

    def action(self, action: Action) -> None:
        with self._encode_lock:  # the encoder reuses one buffer
            value = self._encoder.encode(self._schema, action.to_record())
        error = self._write(self._actions_topic, value, action.child_id)
        if error:
            raise DeliveryError(1, error)

    def close(self) -> None:
        self._producer.flush(ACK_TIMEOUT_S)

    def _write(self, topic: str, value: bytes, key: str | None) -> str | None:
        """Produces one record and waits for its acknowledgement; the error, or None."""
        outcome: list[str | None] = []
        self._producer.produce(topic, value, key.encode() if key else None,
                               on_delivery=lambda error, _m: outcome.append(error.str() if error else None))
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while not outcome and time.monotonic() < deadline:
            self._producer.poll(0.05)
        return outcome[0] if outcome else f"not acknowledged within {ACK_TIMEOUT_S:.0f} s"
