"""The faust application of detection: thin glue between Kafka and `PartitionProcessor`.

Records are fetched by faust's consumer, handed to the stream in one task each
(streams/delivery.py), with what it fetched but did not deliver read again
(streams/rewinding.py), and taken in batches (up to BATCH_SIZE, or what arrived
within BATCH_WITHIN_S); per record, in partition order (one actor, so records are
handled one at a time):

1. decode the Confluent-framed Avro; an undecodable record, an unknown schema id or a
   record type detection does not know goes to the dead-letter topic with its reason and
   its topic, partition and offset, and the worker goes on;
2. a ClockTick advances the partition's clock; a lifecycle event is applied by the engine
   (an event the engine refuses is dead-lettered the same way);
3. alert changes, notifications and child-state snapshots are encoded and queued keyed by
   child_id on the worker's librdkafka producer (streams/batch_producer.py; faust's own
   producer cost most of the worker's time).
Then, per batch (`write_batch`): every send is awaited until Kafka acknowledged it; only
then are the changed states written to the table, and their changelog records awaited too;
only then each partition's clock, awaited as well (streams/durable.py numbers the crash
points this order survives). faust acks the batch afterwards and commits it within a second.

So a crash never leaves a state durable without the outputs it records as sent: a worker
killed before the commit handles the batch again, from states that either lack its events
(the outputs are sent again: the same records, same alert id and sequence) or have them
(their outputs were already on Kafka). Processing is at-least-once with repeats that are
recognizable and collapsible downstream; nothing is lost.

A batch that cannot be written whole (a send or a state write refused, a changelog not
acknowledged, the task cancelled half-way) must never be acked: faust's take_events acks a
batch even when its body raised, and the next commit would then skip records whose state
was never written (a restarted worker would treat their repeats as new and notify again).
So the worker logs the failure and leaves at once with `os._exit`, before faust can ack or
commit; it restarts from its last committed offset (`ucwatch run` restarts it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any

import faust

from ucwatch.core import deadletter as deadletters
from ucwatch.core.errors import ContractError, SettingsError
from ucwatch.core.kafka_admin import client_config, faust_broker_credentials
from ucwatch.core.provenance import ProvenanceRefused, refusal_for
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.batch_producer import BatchProducer
from ucwatch.streams.compact_store import STORE_SCHEME
from ucwatch.streams.continuity import Continuity, RecordsSkipped, skipped_records
from ucwatch.streams.delivery import DeliveringTransport
from ucwatch.streams.durable import DurableTable, abandon_batch, write_states
from ucwatch.streams.engine import Engine
from ucwatch.streams.membership import MembershipLog, group_options, instance_id
from ucwatch.streams.metrics import DetectMetrics
from ucwatch.streams.operations import WorkerOperations
from ucwatch.streams.policy import Policy
from ucwatch.streams.processor import CLOCK_KEY_PREFIX, Outputs, PartitionProcessor
from ucwatch.streams.records import OutputSchemas
from ucwatch.streams.rights import source_topics
from ucwatch.streams.table_codec import Rows

log = logging.getLogger(__name__)

TICK = "gov.ucwatch.control.ClockTick"
WATERMARK = "gov.ucwatch.control.SourceWatermark"
BATCH_SIZE = 2000
"""While a backlog is read (a replay, a catch-up) batches are full: larger ones wait for
Kafka's acknowledgements less often per record and send fewer snapshots and state rows
(a child with several records in one batch is written once). On the 296k replay, one
worker: 8% more records/s at 2,000 than at 500, nothing more at 4,000 (docs/detect.md)."""
BATCH_WITHIN_S = 0.1
LIFECYCLE_NAMESPACE = "gov.ucwatch.lifecycle."
CONFIRM_MARGIN_S = 30.0
"""A send not acknowledged this long after the producer's own timeout is taken as lost."""


def state_dir(settings: Settings, worker_name: str) -> Path:
    """The worker's own folder: its RocksDB store and its lock (worker.py)."""
    folder = (settings.data_dir / "streams" / settings.streams.app_id / worker_name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_app(settings: Settings, policy: Policy, *, worker_name: str = "w0") -> faust.App:
    topics = settings.topics
    partitions = topics.lifecycle.partitions
    datadir = state_dir(settings, worker_name)
    member = instance_id(settings.streams.app_id, worker_name, datadir)
    store = settings.streams.store
    if store not in ("rocksdb", "memory"):
        raise SettingsError(f"streams.store must be rocksdb or memory, not {store!r}")
    send_timeout_s = settings.kafka.delivery_timeout_ms / 1000
    app = faust.App(
        settings.streams.app_id,
        broker=f"kafka://{settings.kafka.bootstrap}",
        broker_credentials=faust_broker_credentials(settings),  # None: PLAINTEXT (docs/security.md)
        store="rocksdb://" if store == "rocksdb" else f"{STORE_SCHEME}://",  # rows as bytes (compact_store.py)
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
        producer_linger=0.02,  # batch the outputs: a produce request per record was a fifth of the time
        producer_request_timeout=send_timeout_s,
        table_cleanup_interval=3600.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        Table=DurableTable,
        **group_options(member),
    )
    # faust's consumer with a cheaper hand-over to the stream (streams/delivery.py), which
    # reads again what faust fetched and dropped (streams/rewinding.py)
    app.transport = DeliveringTransport(app.conf.broker_consumer, app)
    operations = WorkerOperations(app, settings, worker_name)  # metrics, health, clock watch
    detector = Detector(app, settings, policy, send_timeout_s + CONFIRM_MARGIN_S, operations.metrics)
    operations.attach(detector)
    MembershipLog(app, settings.streams.app_id, member, topics.lifecycle.name)

    @app.agent(detector.lifecycle, name="detect")
    async def detect(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            try:
                await detector.write_batch(events)
            except BaseException as failure:  # a half-written batch must never be acked
                abandon_batch(len(events), failure, stopping=bool(app.should_stop))
            # faust acks the batch after this block and commits it within broker_commit_interval

    return app


class Detector:
    """The topics, the table and the per-batch work of one worker's app."""

    def __init__(self, app: faust.App, settings: Settings, policy: Policy, confirm_timeout_s: float,
                 metrics: DetectMetrics | None = None) -> None:
        topics = settings.topics
        self._metrics = metrics or DetectMetrics()
        self._ticks = 0
        # The lifecycle topic and, on a secured broker, the agencies' ingestion topics: all
        # with the same partition count, so faust's assignor gives partition n of each to the
        # same worker, and one processor per partition number sees all of a child's events.
        self.lifecycle = app.topic(*(t.name for t in source_topics(settings)), key_type=bytes, value_type=bytes,
                                   key_serializer="raw", value_serializer="raw",
                                   partitions=topics.lifecycle.partitions)
        self._alerts = self._topic(app, topics.alerts.name, topics.alerts.partitions)
        self._names = topics
        self._kafka_config = client_config(settings)
        self.producer = BatchProducer(self._kafka_config, settings.kafka.delivery_timeout_ms)
        # value_type=Rows: states in the compact layout of streams/state_codec.py
        table = app.Table("children", partitions=topics.lifecycle.partitions, key_type=str, value_type=Rows,
                          default=None)
        assert isinstance(table, DurableTable)
        table.send_through(self.producer)
        self.children = table
        catalog = default_catalog()
        registry = registry_for(settings.schema_registry, catalog)
        self._decoder = Decoder(registry, catalog, logical_types=False)  # timestamps as ms: records.engine_event
        self._schemas = OutputSchemas(catalog)
        self._encoders = {kind: Encoder(registry, topic.name) for kind, topic in (
            ("alert", topics.alerts), ("notification", topics.notifications), ("state", topics.child_state))}
        self._engine = Engine(policy)
        self._confirm_timeout_s = confirm_timeout_s
        self.processors: dict[int, PartitionProcessor] = {}

        def committed(tp: Any) -> int | None:  # looked up when asked: the consumer is made later
            # faust-streaming 0.15 private API: the committed offsets its consumer sought to
            return app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined,no-any-return]

        self._continuity = Continuity(committed)
        self._batch: tuple[int, float, str] | None = None
        """The batch being written: its records, when it began (monotonic), its step."""
        # mode types handlers with a NamedArg alias that no function satisfies under mypy
        app.on_partitions_revoked.connect(self._forget_partitions)  # type: ignore[arg-type]

    @staticmethod
    def _topic(app: faust.App, name: str, partitions: int) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=partitions)

    async def _forget_partitions(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        # Timers and caches are rebuilt from the table when a partition comes back.
        self.processors.clear()

    async def write_batch(self, events: list[Any]) -> None:
        # The records are handled without an await, so a rebalance cannot interleave with
        # them; the processors used are kept here because one during the awaits below may
        # clear `processors`, and their pending writes must still be made.
        began, ticks = time.monotonic(), self._ticks
        self._batch = (len(events), began, "checking that no record is missing")
        after = await self._check_continuity(events)
        self._batch = (len(events), began, "handling its records")
        used: dict[int, tuple[PartitionProcessor, Any]] = {}
        outputs = Outputs()
        letters: list[tuple[bytes | None, bytes]] = []
        for event in events:
            message = event.message
            processor = self._processor_for(message.partition)
            used[message.partition] = (processor, event)
            try:
                outputs.extend(self._handle(processor, message))
            except ContractError as error:
                letters.append((message.key, self._dead_letter(message, error)))
            except Exception as exc:  # a bug must not stop the watch over every other child
                log.exception("processing %s:%s:%s failed", message.topic, message.partition, message.offset)
                letters.append((message.key, self._dead_letter(
                    message, ContractError("processing_failed", f"{type(exc).__name__}: {exc}"))))
        self._send_outputs(outputs, letters)
        # 1. the batch's alerts, notifications, snapshots and dead letters are on Kafka
        self._batch = (len(events), began, "waiting for Kafka to acknowledge its outputs")
        await self.producer.confirm("output record(s)", self._confirm_timeout_s)
        # 2. only then the states that record them as sent, confirmed; 3. then the clocks
        self._batch = (len(events), began, "writing its states and clocks")
        await write_states(self.children, [(processor.drain_writes(), event) for processor, event in used.values()],
                           self._confirm_timeout_s)
        self._continuity.passed(after)
        self._batch = None
        self._metrics.batch(len(events), self._ticks - ticks, len(letters), outputs, time.monotonic() - began)

    async def _check_continuity(self, events: list[Any]) -> dict[Any, int]:
        """Raises RecordsSkipped if a partition's records skip ahead over records on Kafka
        (streams/continuity.py); returns where each partition stands after the batch."""
        gaps, after = self._continuity.gaps(event.message for event in events)
        if gaps:
            missing = await asyncio.get_running_loop().run_in_executor(None, skipped_records, self._kafka_config, gaps)
            if missing:
                raise RecordsSkipped("records never reached the detector, so none of the batch is handled: "
                                     + "; ".join(str(gap) for gap in missing))
            log.info("offsets skipped with no record in them (transaction markers, or removed by retention): %s",
                     "; ".join(str(gap) for gap in gaps))
        return after

    def batch_progress(self) -> str:
        """Where the batch being written is, for the stall watch's last line."""
        if self._batch is None:
            return "no batch in progress"
        records, began, step = self._batch
        return f"a batch of {records} record(s) {step} for {time.monotonic() - began:.0f} s"

    def clocks(self, partitions: Iterable[int]) -> dict[int, int]:
        """Each partition's log clock (ms): its processor's, else the one stored in the table."""
        clocks = {}
        for partition in partitions:
            processor = self.processors.get(partition)
            if processor is not None:
                clocks[partition] = processor.clock_ms
            else:
                stored = self.children.get(f"{CLOCK_KEY_PREFIX}{partition}")
                clocks[partition] = stored["clock_ms"] if stored else 0
        return clocks

    async def send_alert(self, key: str, record: dict[str, Any]) -> Awaitable[Any]:
        """Sends an operations alert change (streams/operations.py); returns its acknowledgement."""
        return await self._alerts.send(key=key.encode(),  # type: ignore[no-any-return]
                                       value=self._encoders["alert"].encode(self._schemas.alert, record))

    def _send_outputs(self, outputs: Outputs, letters: list[tuple[bytes | None, bytes]]) -> None:
        encoders, schemas, send, names = self._encoders, self._schemas, self.producer.send, self._names
        for letter_key, letter in letters:
            send(names.deadletter.name, letter_key, letter)
        for key, record in outputs.alerts:
            send(names.alerts.name, key.encode(), encoders["alert"].encode(schemas.alert, record))
        for key, record in outputs.notifications:
            send(names.notifications.name, key.encode(), encoders["notification"].encode(schemas.notification, record))
        for key, record in outputs.states:
            send(names.child_state.name, key.encode(), encoders["state"].encode(schemas.state, record))

    def _dead_letter(self, message: Any, error: ContractError) -> bytes:
        log.warning("dead-lettering %s:%s:%s: %s", message.topic, message.partition, message.offset, error)
        self._metrics.dead_letters.labels(error.code).inc()
        return deadletters.for_record(
            reason_code=error.code, reason=error.message,
            stage="provenance" if isinstance(error, ProvenanceRefused) else "detect", topic=message.topic,
            partition=message.partition, offset=message.offset, value=message.value, key=message.key,
            field=error.field, event_type=error.event_type).to_json()

    def _processor_for(self, partition: int) -> PartitionProcessor:
        processor = self.processors.get(partition)
        if processor is None:
            processor = self.processors[partition] = PartitionProcessor(self._engine, self.children, partition)
        return processor

    def _handle(self, processor: PartitionProcessor, message: Any) -> Outputs:
        name, record = self._decoder.decode_named(message.value)
        refused = refusal_for(message.topic, name, record.get("source"))
        if refused is not None:  # an agency's event it may not state: never applied
            raise ProvenanceRefused(refused, record.get("event_type") or name.rpartition(".")[2])
        if name == TICK:
            outputs = processor.on_tick(record["tick_at"])
            self._ticks += 1
            return outputs
        if name.startswith(LIFECYCLE_NAMESPACE):
            return processor.on_event(record)
        if name == WATERMARK:
            return processor.on_watermark(record["source"], record["complete_up_to"], record["declared_at"])
        raise ContractError("unexpected_record", f"a {name} record does not belong on the lifecycle topic")
