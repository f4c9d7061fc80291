"""Reaching Kafka and laying out ucwatch's topics.

`wait_for_kafka` retries an unreachable broker with back-off for the configured time and
then fails with one clear error, before anything is produced; a broker that refuses the
login or the TLS handshake fails it at once (KafkaAccessDenied), since waiting would not
help. `require_rights` checks, at start, that this principal holds the rights a role uses
(the broker's own view, DescribeTopics with authorized operations), so that a missing ACL
fails loudly before any work rather than at the first write. `ensure_topics` creates the
topics idempotently with explicit partition counts and configs; it refuses to carry on
when an existing topic has another partition count than configured, since that would
move children to other partitions and break their order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclOperation  # confluent_kafka.admin does not export it for mypy
from confluent_kafka.cimpl import NewTopic  # where it is defined; confluent_kafka.admin does not export it

from ucwatch.core.errors import KafkaAccessDenied, KafkaUnavailable, SettingsError, TopicMissing
from ucwatch.core.kafka_security import confluent_security, faust_credentials
from ucwatch.core.retry import Backoff, RetryExhausted, poll_until, retry
from ucwatch.core.settings import Settings, TopicSettings

log = logging.getLogger(__name__)
KAFKA_LOGGER = logging.getLogger("ucwatch.librdkafka")


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings every confluent-kafka client of ucwatch shares, with the
    security settings (protocol, SASL principal and password, CA, client certificate)."""
    return {"bootstrap.servers": settings.kafka.bootstrap, "logger": KAFKA_LOGGER,
            "log.connection.close": False, **confluent_security(settings.kafka)}


def faust_broker_credentials(settings: Settings) -> Any:
    """faust's ``broker_credentials`` for the same security settings (None: PLAINTEXT)."""
    return faust_credentials(settings.kafka)


def wait_for_kafka(settings: Settings, timeout_s: float | None = None, *,
                   before: str = "doing anything") -> AdminClient:
    """An admin client once the broker answers; KafkaUnavailable after the retry budget.
    `before` says what the caller was about to do, for the error message."""
    timeout_s = settings.kafka.connect_timeout_s if timeout_s is None else timeout_s
    # Until the broker answers, librdkafka reports every refused connection; one summary
    # error at the end says more than hundreds of those lines.
    quiet = logging.getLogger("ucwatch.librdkafka.probe")
    quiet.setLevel(logging.CRITICAL)
    refusals = RefusalWatch(settings)
    probe_config: dict[str, Any] = {**client_config(settings), "logger": quiet, "error_cb": refusals.on_error}
    probe = AdminClient(probe_config)

    def attempt() -> Any:
        try:
            return probe.list_topics(timeout=5.0)
        except KafkaException:
            refusals.raise_if_refused(probe)
            raise

    def report(attempt: int, failure: BaseException, delay: float) -> None:
        log.warning("Kafka at %s not reachable yet (attempt %d: %s); retrying in %.1f s",
                    settings.kafka.bootstrap, attempt, kafka_reason(failure), delay)

    try:
        retry(attempt, retry_on=lambda exc: isinstance(exc, KafkaException),
              backoff=Backoff(first_s=0.5, max_s=5.0), deadline_s=timeout_s, on_retry=report)
    except RetryExhausted as exc:
        raise KafkaUnavailable(settings.kafka.bootstrap, exc.attempts, kafka_reason(exc.last),
                               before=before) from None
    return AdminClient(client_config(settings))


REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
"""librdkafka errors that mean "refused", not "not there yet": never retried."""


class RefusalWatch:
    """Tells "the broker refused us" from "the broker is not there yet".

    librdkafka reports a refused login or TLS handshake through the client's ``error_cb``,
    while the call that failed only says "transport failure": give `on_error` as the
    client's ``error_cb`` and call `raise_if_refused` when a call fails."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.refusals: list[KafkaError] = []

    def on_error(self, error: KafkaError) -> None:
        if error.code() in REFUSALS:
            self.refusals.append(error)

    def raise_if_refused(self, client: AdminClient) -> None:
        """Raises KafkaAccessDenied (no secret in it) if the broker refused this client."""
        client.poll(0.5)  # serves error_cb
        if self.refusals:
            raise KafkaAccessDenied(self._settings.kafka.bootstrap, self._settings.kafka.sasl_username,
                                    self.refusals[0].str()) from None


def require_rights(admin: AdminClient, settings: Settings, needs: Mapping[str, Iterable[AclOperation]], *,
                   absent_ok: bool = False) -> None:
    """Raises KafkaAccessDenied listing every right of `needs` (topic -> operations) this
    principal lacks; a topic it may not even describe counts as lacking them all. With
    `absent_ok`, a topic the principal may describe but that does not exist yet is passed
    over (a process waiting for its topics checks the rest now, and that one once it exists)."""
    wanted = {topic: set(operations) for topic, operations in needs.items()}
    futures = admin.describe_topics(TopicCollection(list(wanted)), include_authorized_operations=True,
                                    request_timeout=15)
    missing = []
    for topic, operations in wanted.items():
        try:
            granted = set(futures[topic].result().authorized_operations or ())
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None
            if code not in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise
            if absent_ok and code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            granted = set()
        if AclOperation.ALL not in granted:
            missing += [f"{op.name} on topic {topic}" for op in sorted(operations - granted, key=lambda o: o.name)]
    if missing:
        raise KafkaAccessDenied(settings.kafka.bootstrap, settings.kafka.sasl_username,
                                "missing " + "; ".join(missing) + " (a topic it may not describe looks missing)",
                                missing=tuple(missing))


def kafka_reason(failure: BaseException) -> str:
    """A librdkafka failure as a person reads it: its message, not `KafkaError{code=...}`."""
    error = failure.args[0] if isinstance(failure, KafkaException) and failure.args else None
    if isinstance(error, KafkaError):
        return error.str()
    return str(failure)


def require_topic(admin: AdminClient, name: str, *, access: str = "written") -> None:
    """Raises TopicMissing unless topic `name` exists (before writing to it, which would
    otherwise wait out the delivery timeout)."""
    metadata = admin.list_topics(name, timeout=10).topics.get(name)
    if metadata is None or metadata.error is not None:
        detail = metadata.error.str() if metadata is not None and metadata.error else "no such topic"
        raise TopicMissing(name, detail, access=access)


def topic_config(topic: TopicSettings, settings: Settings) -> dict[str, str]:
    config = {"cleanup.policy": "compact" if topic.compacted else "delete",
              "retention.ms": str(topic.retention_ms)}
    if settings.kafka.replication_factor >= 3:
        config["min.insync.replicas"] = "2"
    if topic is settings.topics.deadletter:
        # A dead letter keeps the rejected input whole (up to 1 MiB) so nothing is lost.
        config["max.message.bytes"] = str(2 * 1024 * 1024)
    return config


def ensure_topics(admin: AdminClient, settings: Settings,
                  topics: Iterable[TopicSettings] | None = None) -> list[str]:
    """Creates the missing topics; returns the names it created."""
    wanted = list(settings.topics.all() if topics is None else topics)
    futures = admin.create_topics([
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=settings.kafka.replication_factor,
                 config=topic_config(t, settings)) for t in wanted], operation_timeout=30)
    created = []
    for topic in wanted:
        try:
            futures[topic.name].result()
            created.append(topic.name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise SettingsError(f"topic {topic.name} cannot be created: {kafka_reason(exc)}") from exc
    existing = _metadata_showing(admin, [t.name for t in wanted])
    for topic in wanted:
        partitions = len(existing[topic.name].partitions) if topic.name in existing else 0
        if partitions != topic.partitions:
            raise SettingsError(f"topic {topic.name} has {partitions} partitions but the settings say "
                                f"{topic.partitions}; changing it would reorder children's events")
    return created


def _metadata_showing(admin: AdminClient, names: list[str], timeout_s: float = 15.0) -> dict[str, Any]:
    """Topic metadata once every named topic shows up (a new topic takes a moment)."""
    topics: dict[str, Any] = poll_until(
        lambda: admin.list_topics(timeout=10).topics,
        lambda topics: all(name in topics and topics[name].partitions for name in names),
        timeout_s=timeout_s)
    return topics
