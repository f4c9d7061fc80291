"""The faust application of detection: thin glue between Kafka and `PartitionProcessor`.

Records are taken in batches (up to BATCH_SIZE, or what arrived within BATCH_WITHIN_S);
per record, in partition order (one actor, so records are handled one at a time):

1. decode the Confluent-framed Avro; an undecodable record, an unknown schema id or a
   record type detection does not know goes to the dead-letter topic with its reason and
   its topic, partition and offset, and the worker goes on;
2. a ClockTick advances the partition's clock; a lifecycle event is applied by the engine
   (an event the engine refuses is dead-lettered the same way);
3. alert changes, notifications and child-state snapshots are encoded and sent keyed by
   child_id.
Then, per batch: the producer is flushed (every output is on Kafka), and only then are the
changed states written to the table, whose changelog topic restores them on a restarted
or moved worker; faust acks the batch afterwards and flushes again before it commits.

So a crash never leaves a state durable without the outputs it records as sent: a worker
killed before the commit handles the batch again, from states that either lack its events
(the outputs are sent again: the same records, same alert id and sequence) or have them
(their outputs were already on Kafka). Processing is at-least-once with repeats that are
recognizable and collapsible downstream; nothing is lost.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event as faust_current_event

from ucwatch.core import deadletter as deadletters
from ucwatch.core.errors import ContractError, SettingsError
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy import Policy
from ucwatch.streams.processor import Outputs, PartitionProcessor
from ucwatch.streams.records import EPOCH, OutputSchemas

log = logging.getLogger(__name__)
TICK = "gov.ucwatch.control.ClockTick"
BATCH_SIZE = 500
BATCH_WITHIN_S = 0.1
LIFECYCLE_NAMESPACE = "gov.ucwatch.lifecycle."


@contextmanager
def writing_for(event: Any) -> Iterator[None]:
    """Makes table writes go to `event`'s partition (store and changelog).

    faust picks the partition of a table write from the current event, a context variable
    its stream sets per event; take_events does not. Setting only the context variable,
    and restoring it, leaves the stream's own record of its current event alone (it uses
    that one to collect the next batch). faust-streaming 0.15 private API.
    """
    token = faust_current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_current_event.reset(token)


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

    def dead_letter(message: Any, error: ContractError) -> bytes:
        log.warning("dead-lettering %s:%s:%s: %s", message.topic, message.partition, message.offset, error)
        return deadletters.for_record(
            reason_code=error.code, reason=error.message, stage="detect", topic=message.topic,
            partition=message.partition, offset=message.offset, value=message.value, key=message.key,
            field=error.field, event_type=error.event_type).to_json()

    @app.agent(lifecycle, name="detect")
    async def detect(stream: faust.StreamT) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            # The batch is handled without an await, so a rebalance cannot interleave with
            # it; the processors it used are kept here because one during the awaits
            # below may clear `processors`, and their pending writes must still be made.
            used: dict[int, tuple[PartitionProcessor, Any]] = {}
            outputs = Outputs()
            letters: list[tuple[bytes | None, bytes]] = []
            for event in events:
                message = event.message
                processor = processor_for(message.partition)
                used[message.partition] = (processor, event)
                try:
                    outputs.extend(handle(processor, message))
                except ContractError as error:
                    letters.append((message.key, dead_letter(message, error)))
                except Exception as exc:  # a bug must not stop the watch over every other child
                    log.exception("processing %s:%s:%s failed", message.topic, message.partition, message.offset)
                    letters.append((message.key, dead_letter(
                        message, ContractError("processing_failed", f"{type(exc).__name__}: {exc}"))))
            for key, letter in letters:
                await deadletter.send(key=key, value=letter)
            await send_outputs(outputs)
            # 1. the batch's alerts, notifications, snapshots and dead letters are on Kafka
            await app.producer.flush()
            # 2. only then the states that record them as sent (changelogged per partition)
            for processor, event in used.values():
                writes = processor.drain_writes()
                if writes:
                    with writing_for(event):
                        for key, value in writes.items():
                            children[key] = value
            # 3. faust acks the batch after this block; its commit flushes the producer first

    def processor_for(partition: int) -> PartitionProcessor:
        processor = processors.get(partition)
        if processor is None:
            processor = processors[partition] = PartitionProcessor(engine, children, partition)
        return processor

    def handle(processor: PartitionProcessor, message: Any) -> Outputs:
        name, record = decoder.decode_named(message.value)
        if name == TICK:
            return processor.on_tick((record["tick_at"] - EPOCH).total_seconds() * 1000)
        if name.startswith(LIFECYCLE_NAMESPACE):
            return processor.on_event(record)
        raise ContractError("unexpected_record", f"a {name} record does not belong on the lifecycle topic")

    app.ucwatch_processors = processors  # type: ignore[attr-defined]  (for tests and metrics)
    return app
