"""The faust application of detection: thin glue between Kafka and `PartitionProcessor`.

Per record of the lifecycle topic, in partition order (one actor per agent, so a
partition's records are handled one at a time):

1. decode the Confluent-framed Avro; an undecodable record, an unknown schema id or a
   record type detection does not know goes to the dead-letter topic with its reason and
   its topic, partition and offset, and the worker goes on;
2. a ClockTick advances the partition's clock; a lifecycle event is applied by the engine
   (an event the engine refuses is dead-lettered the same way);
3. alert changes, notifications and child-state snapshots are encoded and sent keyed by
   child_id; the child's state is written to the table (its changelog topic restores it
   on a restarted or moved worker).

Processing is at-least-once: faust commits an offset after its record was handled and the
sends were handed to the producer. A worker killed in between handles the record again
after restart; alert and notification ids are deterministic and each record carries its
change sequence, so a repeat is recognizable (ClickHouse collapses them).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import faust

from producers.deadletter import DeadLetter
from schemas.catalog import default_catalog
from schemas.registry import registry_for
from schemas.serde import Decoder, Encoder
from streams.engine import Engine
from streams.policy import Policy
from streams.processor import Outputs, PartitionProcessor
from streams.records import EPOCH, OutputSchemas
from ucwatch.errors import ContractError, SettingsError
from ucwatch.settings import Settings

log = logging.getLogger(__name__)
TICK = "gov.ucwatch.control.ClockTick"
LIFECYCLE_NAMESPACE = "gov.ucwatch.lifecycle."


def build_app(settings: Settings, policy: Policy, *, worker_name: str = "w0") -> faust.App:
    topics = settings.topics
    partitions = topics.lifecycle.partitions
    datadir = (settings.data_dir / "streams" / settings.streams.app_id / worker_name).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    store = settings.streams.store
    if store not in ("rocksdb", "memory"):
        raise SettingsError(f"streams.store must be rocksdb or memory, not {store!r}")
    app = faust.App(
        settings.streams.app_id,
        broker=f"kafka://{settings.kafka.bootstrap}",
        store="rocksdb://" if store == "rocksdb" else "memory://",
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
        producer_linger=0.02,  # batch the outputs: a produce request per record was a fifth of the time
        table_cleanup_interval=3600.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )

    def raw_topic(name: str, count: int) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=count)

    lifecycle = raw_topic(topics.lifecycle.name, partitions)
    alerts = raw_topic(topics.alerts.name, topics.alerts.partitions)
    notifications = raw_topic(topics.notifications.name, topics.notifications.partitions)
    child_state = raw_topic(topics.child_state.name, topics.child_state.partitions)
    deadletter = raw_topic(topics.deadletter.name, topics.deadletter.partitions)
    children = app.Table("children", partitions=partitions, key_type=str, default=None)

    catalog = default_catalog()
    registry = registry_for(settings.schema_registry.url, catalog)
    decoder = Decoder(registry, catalog)
    schemas = OutputSchemas(catalog)
    encoders = {kind: Encoder(registry, topic.name) for kind, topic in
                (("alert", topics.alerts), ("notification", topics.notifications), ("state", topics.child_state))}
    engine = Engine(policy)
    processors: dict[int, PartitionProcessor] = {}

    @app.on_partitions_revoked.connect
    async def forget_partitions(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # Timers and caches are rebuilt from the table when a partition comes back.
        processors.clear()

    async def send_outputs(outputs: Outputs) -> None:
        for key, record in outputs.alerts:
            await alerts.send(key=key.encode(), value=encoders["alert"].encode(schemas.alert, record))
        for key, record in outputs.notifications:
            await notifications.send(key=key.encode(),
                                     value=encoders["notification"].encode(schemas.notification, record))
        for key, record in outputs.states:
            await child_state.send(key=key.encode(), value=encoders["state"].encode(schemas.state, record))

    async def dead_letter(message: Any, error: ContractError) -> None:
        origin = f"{message.topic}:{message.partition}:{message.offset}"
        log.warning("dead-lettering %s: %s", origin, error)
        raw = base64.b64encode(message.value or b"").decode()
        letter = DeadLetter(reason_code=error.code, reason=error.message, origin=origin, raw=raw,
                            raw_text=raw, stage="detect", field=error.field, event_type=error.event_type)
        await deadletter.send(key=message.key, value=letter.to_json())

    @app.agent(lifecycle, name="detect")
    async def detect(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            processor = processors.get(message.partition)
            if processor is None:
                processor = processors[message.partition] = PartitionProcessor(engine, children, message.partition)
            try:
                name, record = decoder.decode_named(message.value)
                if name == TICK:
                    outputs = processor.on_tick((record["tick_at"] - EPOCH).total_seconds() * 1000)
                elif name.startswith(LIFECYCLE_NAMESPACE):
                    outputs = processor.on_event(record)
                else:
                    raise ContractError("unexpected_record", f"a {name} record does not belong on the "
                                        "lifecycle topic")
            except ContractError as error:
                await dead_letter(message, error)
                continue
            except Exception as exc:  # a bug must not stop the watch over every other child
                log.exception("processing %s:%s:%s failed", message.topic, message.partition, message.offset)
                await dead_letter(message, ContractError("processing_failed", f"{type(exc).__name__}: {exc}"))
                continue
            await send_outputs(outputs)

    app.ucwatch_processors = processors  # type: ignore[attr-defined]  (for tests and metrics)
    return app
