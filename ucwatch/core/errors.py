"""The exception tree of ucwatch.

    UcwatchError
     +-- SettingsError          a setting is unknown, mistyped or out of range
     +-- UsageError             a command-line value is refused (beyond what the parser checks)
     +-- ContractError          an event breaks the event contract (schemas/)
     |    +-- UnknownEventType
     |    +-- SchemaIdUnknown   a framed record names a schema id the registry lacks
     +-- RegistryError          the schema registry refused or could not be reached
     +-- KafkaUnavailable       no broker answered within the retry budget
     +-- KafkaAccessDenied      the brokers refused this principal: login, TLS or a missing ACL
     +-- DeliveryError          the broker did not acknowledge some records
     |    +-- AuditNotWritten   an audit entry could not be written, so nothing was shown
     +-- PseudonymKeyError      the HMAC key is missing or too weak
     +-- InputFileError         an input file is missing or unreadable as a whole
     +-- TopicMissing           a topic to read does not exist (yet)

Each carries structured fields so that a caller can report where the problem was
(event type, field, topic, partition, offset, file, line) without parsing messages.
"""

from __future__ import annotations


class UcwatchError(Exception):
    """Root of every error ucwatch raises on purpose."""


class SettingsError(UcwatchError):
    pass


class UsageError(UcwatchError):
    pass


class ContractError(UcwatchError):
    """An event that does not satisfy the contract.

    `code` is a short stable reason (e.g. ``missing_field``) used to count rejections by
    kind; `field` names the offending field when there is one.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None,
                 event_type: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.event_type = event_type

    @property
    def message(self) -> str:
        return str(self.args[0])


class UnknownEventType(ContractError):
    def __init__(self, event_type: object) -> None:
        super().__init__("unknown_event_type", f"unknown event_type {event_type!r}",
                         field="event_type")


class SchemaIdUnknown(ContractError):
    def __init__(self, schema_id: int) -> None:
        super().__init__("unknown_schema_id", f"schema id {schema_id} is not in the registry")
        self.schema_id = schema_id


class RegistryError(UcwatchError):
    pass


class KafkaUnavailable(UcwatchError):
    """No broker answered. `before` says what the command was about to do (``publishing
    anything``, ``reading ucwatch.alerts``), so the message tells what did not happen."""

    def __init__(self, bootstrap: str, attempts: int, last_error: str, *,
                 before: str = "doing anything") -> None:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(
            f"Kafka at {bootstrap} did not answer after {tries} ({last_error}); gave up before "
            f"{before}. Start it with `ucwatch kafka start` or check UCWATCH_KAFKA_BOOTSTRAP.")
        self.bootstrap = bootstrap
        self.attempts = attempts
        self.last_error = last_error
        self.before = before


class KafkaAccessDenied(UcwatchError):
    """The brokers refused who this process is (a wrong password, an unknown user, a
    certificate not trusted) or what it needs (`missing`: one line per right it lacks).
    Never retried: waiting does not grant a right. The message holds no secret."""

    def __init__(self, bootstrap: str, principal: str, reason: str, *, missing: tuple[str, ...] = ()) -> None:
        who = f"principal {principal}" if principal else "this client"
        super().__init__(f"Kafka at {bootstrap} refused {who}: {reason}")
        self.bootstrap = bootstrap
        self.principal = principal
        self.reason = reason
        self.missing = missing


class DeliveryError(UcwatchError):
    def __init__(self, failures: int, first_error: str) -> None:
        super().__init__(f"{failures} record(s) were not acknowledged by Kafka; first error: {first_error}")
        self.failures = failures
        self.first_error = first_error


class AuditNotWritten(DeliveryError):
    """The audit entry of a read was not acknowledged: the read does not happen."""

    def __init__(self, action: str, reason: str) -> None:
        UcwatchError.__init__(self, f"the audit entry for {action} could not be written ({reason}); "
                                    "nothing was shown")
        self.failures = 1
        self.first_error = reason
        self.action = action


class PseudonymKeyError(UcwatchError):
    pass


class InputFileError(UcwatchError):
    pass


class TopicMissing(UcwatchError):
    def __init__(self, topic: str, detail: str, *, access: str = "read") -> None:
        super().__init__(f"topic {topic} cannot be {access} ({detail}); create the topics with "
                         "`ucwatch topics create` or check the topic settings")
        self.topic = topic
