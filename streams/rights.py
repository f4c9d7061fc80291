"""What a detection worker reads and writes on Kafka, and whether its principal may.

The worker reads the lifecycle topic (ClockTicks, events admitted there) and, with
``streams.read_ingest_topics``, the agencies' ingestion topics, co-partitioned with it
(`ucwatch.core.provenance`); it writes alerts, notifications, child-state snapshots and
dead letters. `check_rights` asks the broker (`kafka_admin.require_rights`) whether this
principal holds those rights, so that a worker that could not write an alert fails at start
with a message naming each missing right (exit 2), not at its first alert. faust's own
topics (changelog, assignor) are not listed: the worker creates them before faust starts
(streams/readiness.py), and a refused creation stops it there.

The ACL table (`ucwatch.core.kafka_acls`) grants ``ucwatch-worker`` these rights; a unit
test checks that it covers every one listed here.

`require_copartitioned` refuses to start when a topic it reads has another partition count
than the lifecycle topic: faust's assignor would then hand that topic's partitions out
independently, and a child's events from two agencies could reach two workers, each with
half of the child's state.
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclOperation  # confluent_kafka.admin does not export it for mypy

from ucwatch.core.errors import SettingsError
from ucwatch.core.kafka_admin import require_rights
from ucwatch.core.provenance import ingest_topics
from ucwatch.core.settings import Settings, TopicSettings


def source_topics(settings: Settings) -> list[TopicSettings]:
    """The topics the worker consumes, all with the lifecycle topic's partition count."""
    return [settings.topics.lifecycle, *(ingest_topics(settings) if settings.streams.read_ingest_topics else [])]


def output_topics(settings: Settings) -> list[TopicSettings]:
    """The topics the worker writes."""
    topics = settings.topics
    return [topics.alerts, topics.notifications, topics.child_state, topics.deadletter]


def worker_rights(settings: Settings) -> dict[str, list[AclOperation]]:
    """topic -> the operations the worker performs on it."""
    return {**{t.name: [AclOperation.READ] for t in source_topics(settings)},
            **{t.name: [AclOperation.WRITE] for t in output_topics(settings)}}


def check_rights(admin: AdminClient, settings: Settings, *, absent_ok: bool = False) -> None:
    """Raises KafkaAccessDenied naming every right the worker's principal lacks."""
    require_rights(admin, settings, worker_rights(settings), absent_ok=absent_ok)


def require_copartitioned(admin: AdminClient, settings: Settings) -> None:
    """Raises SettingsError naming each topic the worker reads whose partition count is not
    the lifecycle topic's (`streams` would otherwise split a child between workers)."""
    wanted = settings.topics.lifecycle.partitions
    metadata = admin.list_topics(timeout=10).topics
    wrong = [f"{t.name} has {len(metadata[t.name].partitions)}" for t in source_topics(settings)
             if t.name in metadata and len(metadata[t.name].partitions) != wanted]
    if wrong:
        raise SettingsError(f"the topics a worker reads must have {wanted} partitions each (the lifecycle "
                            f"topic's setting), so that a child's events all reach one worker: {'; '.join(wrong)}")
