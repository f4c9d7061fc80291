"""The dead-letter topic: every input ucwatch refuses, with the reason, kept whole.

A dead letter is a JSON document (so that any tool can read it without the registry):

    {"reason_code": "bad_enum", "reason": "outcome: 'MAYBE' is not one of ...",
     "stage": "validate", "origin": "exports/orr-2024-05.jsonl", "line": 17,
     "field": "outcome", "event_type": "WellbeingCallAttempted",
     "raw": {...the input as read...}, "raw_sha256": "...", "raw_bytes": 311,
     "raw_truncated": false, "redacted_fields": [], "dead_lettered_at": "..."}

Privacy: values of fields that are not in the contract are replaced by "<redacted>" (such
a field is exactly where a name or a street address would hide); the field names stay,
so the reason is still clear. Input longer than `MAX_RAW_BYTES` is cut, with its SHA-256
and origin kept so the full line can be found in the source file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from confluent_kafka import Producer

MAX_RAW_BYTES = 1024 * 1024
REDACTED = "<redacted>"


@dataclass
class DeadLetter:
    reason_code: str
    reason: str
    origin: str
    raw: Any
    """The input as read: a parsed object where there is one, else the text."""
    raw_text: str
    stage: str = "validate"
    line: int | None = None
    field: str | None = None
    event_type: str | None = None
    child_id: str | None = None
    allowed_fields: Iterable[str] | None = None
    """The contract's field names; others get their values redacted."""

    def to_json(self) -> bytes:
        raw, redacted = _redact(self.raw, self.allowed_fields)
        encoded_raw = self.raw_text.encode("utf-8", "replace")
        truncated = len(encoded_raw) > MAX_RAW_BYTES
        if truncated or redacted:
            raw = raw if not truncated else encoded_raw[:MAX_RAW_BYTES].decode("utf-8", "replace")
        document = {
            "reason_code": self.reason_code, "reason": self.reason, "stage": self.stage,
            "origin": self.origin, "line": self.line, "field": self.field,
            "event_type": self.event_type, "raw": raw,
            "raw_sha256": hashlib.sha256(encoded_raw).hexdigest(), "raw_bytes": len(encoded_raw),
            "raw_truncated": truncated, "redacted_fields": redacted,
            "dead_lettered_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }
        return json.dumps(document, ensure_ascii=False, default=str).encode()


def _redact(raw: Any, allowed: Iterable[str] | None) -> tuple[Any, list[str]]:
    if allowed is None or not isinstance(raw, dict):
        return raw, []
    allowed = set(allowed)
    redacted = sorted(str(key) for key in raw if key not in allowed)
    if not redacted:
        return raw, []
    return {key: (value if key in allowed else REDACTED) for key, value in raw.items()}, redacted


class DeadLetterWriter:
    """Produces dead letters; `flush` says how many the broker did not take."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self.topic = topic
        self.sent = 0
        self._failures: list[str] = []

    def send(self, letter: DeadLetter) -> None:
        headers = [("ucwatch.dlq.reason", letter.reason_code.encode()),
                   ("ucwatch.dlq.origin", letter.origin.encode())]
        if letter.line is not None:
            headers.append(("ucwatch.dlq.line", str(letter.line).encode()))
        while True:
            try:
                self._producer.produce(self.topic, letter.to_json(), letter.child_id, headers=headers,
                                       on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failures.append(error.str())

    def flush(self, timeout_s: float = 120.0) -> list[str]:
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if remaining:
            failures.append(f"{remaining} dead letter(s) unacknowledged after {timeout_s} s")
        return failures
