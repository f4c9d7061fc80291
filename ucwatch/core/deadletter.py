"""The dead-letter topic: every input ucwatch refuses, with the reason and where to find it.

One record builder for every component: a file line refused by `ucwatch produce`
(`for_input_line`) and a Kafka record refused by a worker or the sink (`for_record`).
A dead letter is a JSON document, so that any tool can read it without the registry:

    {"reason_code": "bad_enum", "reason": "outcome: 'MAYBE' is not one of ...",
     "stage": "validate", "origin": "exports/orr-2024-05.jsonl", "line": 17,
     "field": "outcome", "event_type": "WellbeingCallAttempted", "child_id": "CH-...",
     "fields": {"event_type": "WellbeingCallAttempted", "attempt": 2, ...},
     "withheld_fields": ["outcome", "sponsor_name"],
     "raw_sha256": "...", "raw_bytes": 311, "dead_lettered_at": "..."}

Privacy: a dead letter never carries the raw input. A refused line may hold exactly what
must not reach Kafka (an A-number, a name, a street address), so only the values of
contract fields that are not at fault are kept (`fields`); every other field is named in
`withheld_fields` without its value. The line's SHA-256, byte length, file and line number
find it in the source file; a refused Kafka record is found by its topic:partition:offset.

Serializing a dead letter cannot fail: non-ASCII and lone surrogates are escaped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.pseudonym import TOKEN_PATTERN

log = logging.getLogger("ucwatch.deadletter")

MAX_KEPT_VALUE_CHARS = 64
"""A longer string is withheld: contract values are codes, tokens and timestamps."""


@dataclass(frozen=True)
class DeadLetter:
    reason_code: str
    reason: str
    stage: str
    """read, validate, publish, detect or sink."""
    origin: str
    """The file, or topic:partition:offset of a refused Kafka record."""
    raw_sha256: str
    raw_bytes: int
    line: int | None = None
    field: str | None = None
    event_type: str | None = None
    child_id: str | None = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    withheld_fields: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        document = {
            "reason_code": self.reason_code, "reason": self.reason, "stage": self.stage,
            "origin": self.origin, "line": self.line, "field": self.field,
            "event_type": self.event_type, "child_id": self.child_id,
            "fields": dict(self.fields), "withheld_fields": list(self.withheld_fields),
            "raw_sha256": self.raw_sha256, "raw_bytes": self.raw_bytes,
            "dead_lettered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        return json.dumps(document, ensure_ascii=True, default=repr).encode("ascii")

    @property
    def key(self) -> bytes | None:
        return self.child_id.encode("ascii") if self.child_id else None


def for_input_line(*, reason_code: str, reason: str, origin: str, line: int | None, raw: bytes | str,
                   parsed: Any, contract_fields: Iterable[str], field: str | None = None,
                   stage: str = "validate") -> DeadLetter:
    """A refused line of an input file: its fingerprint and the contract values not at fault."""
    fields, withheld = _kept_fields(parsed, frozenset(contract_fields) - {field})
    event_type = fields.get("event_type")
    child_id = fields.get("child_id")
    return DeadLetter(
        reason_code=reason_code, reason=_safe_text(reason), stage=stage, origin=origin, line=line,
        field=_safe_text(field) if field is not None else None, **_fingerprint(raw),
        event_type=event_type if isinstance(event_type, str) else None,
        child_id=child_id if isinstance(child_id, str) and TOKEN_PATTERN.fullmatch(child_id) else None,
        fields=fields, withheld_fields=withheld)


def for_record(*, reason_code: str, reason: str, stage: str, topic: str, partition: int, offset: int,
               value: bytes | None, key: bytes | None, field: str | None = None,
               event_type: str | None = None) -> DeadLetter:
    """A Kafka record a worker or the sink could not use; it stays on its topic at `origin`."""
    child = key.decode("utf-8", "replace") if key else None
    return DeadLetter(
        reason_code=reason_code, reason=_safe_text(reason), stage=stage,
        origin=f"{topic}:{partition}:{offset}", field=field, event_type=event_type,
        child_id=child if child and TOKEN_PATTERN.fullmatch(child) else None, **_fingerprint(value or b""))


def _fingerprint(raw: bytes | str) -> dict[str, Any]:
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    return {"raw_sha256": hashlib.sha256(data).hexdigest(), "raw_bytes": len(data)}


def _kept_fields(parsed: Any, allowed: frozenset[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    if not isinstance(parsed, dict):
        return {}, ()
    kept: dict[str, Any] = {}
    withheld: list[str] = []
    for name, value in parsed.items():
        if isinstance(name, str) and name in allowed and _harmless(value):
            kept[name] = value
        else:
            withheld.append(_safe_text(str(name))[:MAX_KEPT_VALUE_CHARS])
    return kept, tuple(sorted(withheld))


def _harmless(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_KEPT_VALUE_CHARS and _safe_text(value) == value
    return False


def _safe_text(text: str) -> str:
    """Text that encodes as UTF-8 (a lone surrogate becomes U+FFFD)."""
    return text.encode("utf-8", "replace").decode("utf-8")


class DeadLetterWriter:
    """Produces dead letters; `flush` says how many the broker did not take."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self.topic = topic
        self.sent = 0
        self._failures: list[str] = []

    def send(self, letter: DeadLetter, on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        """`on_delivery(error, message)`, if given, hears this letter's delivery report
        instead of `flush` (which then does not count its failure)."""
        headers: list[tuple[str, str | bytes | None]] = [
            ("ucwatch.dlq.reason", letter.reason_code.encode()),
            ("ucwatch.dlq.origin", letter.origin.encode("utf-8", "replace"))]
        if letter.line is not None:
            headers.append(("ucwatch.dlq.line", str(letter.line).encode()))
        log.warning("dead-lettering %s%s: %s", letter.origin,
                    f":{letter.line}" if letter.line is not None else "", letter.reason)
        body = letter.to_json()
        while True:
            try:
                self._producer.produce(self.topic, body, letter.key, headers=headers,
                                       on_delivery=on_delivery or self._on_delivery)
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
