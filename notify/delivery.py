"""The nouns of delivery: endpoints, a notice's place on its topic, one attempt's result,
and one entry of the delivery log (schemas/avro/deliveries/NoticeDelivery)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"
    NONE = "NONE"
    """No endpoint is configured for the recipient: nothing can be attempted."""


class Outcome(StrEnum):
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    GAVE_UP = "GAVE_UP"

    @property
    def final(self) -> bool:
        return self is not Outcome.FAILED


@dataclass(frozen=True)
class Endpoint:
    name: str
    """``<recipient>.<channel>`` in lower case, e.g. ``hhs.webhook``: names it in logs,
    metrics, the delivery log and the NOTICE_UNDELIVERED alert id."""
    recipient: str
    channel: Channel

    @classmethod
    def unconfigured(cls, recipient: str) -> Endpoint:
        return cls(f"{recipient.lower()}.unconfigured", recipient, Channel.NONE)


@dataclass(frozen=True)
class Source:
    """Where a notice sits on the notifications topic."""
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    permanent: bool = False
    """A failure that retrying cannot fix (a 4xx answer, a 5xx SMTP reply): give up now."""
    status_code: int | None = None
    """The HTTP status or SMTP reply code, when the receiver answered."""
    detail: str = ""
    """Short, and never personal data: a status line, an exception class and message."""

    @classmethod
    def ok(cls, status_code: int | None, detail: str = "") -> AttemptResult:
        return cls(True, False, status_code, detail)

    @classmethod
    def retry(cls, detail: str, status_code: int | None = None) -> AttemptResult:
        return cls(False, False, status_code, detail)

    @classmethod
    def refused(cls, detail: str, status_code: int | None = None) -> AttemptResult:
        return cls(False, True, status_code, detail)


@dataclass(frozen=True)
class LogEntry:
    """One record of the delivery log: an attempt's outcome, or the final one."""
    notification_id: str
    child_id: str
    recipient: str
    kind: str
    endpoint: str
    channel: Channel
    attempt: int
    """The attempt this entry reports (1, 2, ...); for GAVE_UP, the attempts made."""
    outcome: Outcome
    status_code: int | None
    detail: str
    at_ms: int
    """Wall clock when the attempt ended (or the notifier gave up)."""
    notice_partition: int
    notice_offset: int
    synthetic: bool = False

    def to_record(self) -> dict[str, Any]:
        return {"notification_id": self.notification_id, "child_id": self.child_id,
                "recipient": self.recipient, "kind": self.kind, "endpoint": self.endpoint,
                "channel": self.channel.value, "attempt": self.attempt, "outcome": self.outcome.value,
                "status_code": self.status_code, "detail": self.detail, "at": self.at_ms,
                "notice_partition": self.notice_partition, "notice_offset": self.notice_offset,
                "synthetic": self.synthetic}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LogEntry:
        """From a record decoded without logical types (`at` in epoch milliseconds)."""
        return cls(record["notification_id"], record["child_id"], record["recipient"], record["kind"],
                   record["endpoint"], Channel(record["channel"]), int(record["attempt"]),
                   Outcome(record["outcome"]), record["status_code"], record["detail"], int(record["at"]),
                   int(record["notice_partition"]), int(record["notice_offset"]), bool(record["synthetic"]))
