"""`ucwatch child CHILD_ID`: a child's current state and open alerts, from Kafka.

The workers write snapshots and alert changes keyed by child_id with the Java-compatible
murmur2 partitioner (aiokafka's default), so only one partition of each topic is read.
The read is audit-logged first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer

from ucwatch.core.audit import record_access
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.core.topic_reader import Record, read_to_end, topic_partitions
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder


def partition_of(key: bytes, partitions: int) -> int:
    partition: int = (murmur2(key) & 0x7FFFFFFF) % partitions
    return partition


def child_view(settings: Settings, child_id: str) -> dict[str, Any] | None:
    record_access(settings, "read_child_state", child_id)
    decoder = Decoder(registry_for(settings.schema_registry, default_catalog()), default_catalog())
    key = child_id.encode()
    snapshot = None
    for record in _records_of(settings, settings.topics.child_state.name, key):
        snapshot = None if record.value is None else decoder.decode(record.value)  # None: a tombstone
    latest: dict[str, dict[str, Any]] = {}
    for record in _records_of(settings, settings.topics.alerts.name, key):
        if record.value is None:
            continue
        change = decoder.decode(record.value)
        if change["sequence"] >= latest.get(change["alert_id"], {}).get("sequence", 0):
            latest[change["alert_id"]] = change
    if snapshot is None and not latest:
        return None
    return {"state": snapshot,
            "open_alerts": sorted((a for a in latest.values() if a["status"] == "OPEN"),
                                  key=lambda a: a["deadline"]),
            "closed_alerts": sum(1 for a in latest.values() if a["status"] != "OPEN")}


def _records_of(settings: Settings, topic: str, key: bytes) -> Iterator[Record]:
    client = client_config(settings)
    consumer = Consumer({**client, "group.id": "ucwatch-child-view"})
    try:
        count = len(topic_partitions(consumer, topic, client))
    finally:
        consumer.close()
    for record in read_to_end(client, topic, partitions=[partition_of(key, count)]):
        if record.key == key:
            yield record
