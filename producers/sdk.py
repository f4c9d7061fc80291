"""The SDK upstream systems publish lifecycle events with.

    with EventProducer(Settings.load()) as producer:
        producer.publish({"event_type": "ReleasedToSponsor", "child_id": token, ...})
    # leaving the block flushes; records Kafka did not acknowledge raise DeliveryError

`publish` validates against the contract (raising `ContractError` at once), encodes in the
Confluent wire format and produces keyed by child_id, so a child's events stay in order on
one partition. The producer is idempotent with acks=all: a retry inside the client never
duplicates or reorders. Delivery failures are collected and raised by `flush`, or handed
to the caller's `on_failure` callback with the caller's reference. A caller that must know
which records Kafka acknowledged (file import's journal) gives the producer a `tracker`:
it hears every record produced (`sent(value, reference)`) and every delivery report, the
successful ones included (`on_delivery(error, message)`, error None on success), through
one callback for the whole producer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import Producer

from ucwatch.core.errors import DeliveryError, SettingsError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.producers.watermarks import watermark_record
from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.contract import ContractRules, EventContract
from ucwatch.schemas.registry import SchemaRegistry, registry_for
from ucwatch.schemas.serde import Encoder

FailureCallback = Callable[[Any, str], None]


class DeliveryTracker(Protocol):
    """Hears each record produced with its caller's reference, then its delivery report."""

    def sent(self, value: bytes, reference: Any) -> None: ...

    def on_delivery(self, error: Any, message: Any) -> None: ...


@dataclass(frozen=True)
class ProducerOptions:
    """librdkafka tuning the SDK exposes; anything else is refused, not passed through."""

    linger_ms: int = 20
    batch_size: int = 1_000_000
    compression: str = "lz4"
    queue_max_messages: int = 1_000_000

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ProducerOptions:
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SettingsError(f"unrecognized producer option(s): {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        for name, value in values.items():
            expected = int if known[name] in ("int", int) else str
            if not isinstance(value, expected) or isinstance(value, bool):
                raise SettingsError(f"producer option {name} must be {expected.__name__}, got {value!r}")
        return cls(**values)


class EventProducer:
    def __init__(self, settings: Settings, *, topic: str | None = None,
                 registry: SchemaRegistry | None = None, options: ProducerOptions | None = None,
                 clock: Callable[[], float] = time.time, tracker: DeliveryTracker | None = None) -> None:
        catalog = default_catalog()
        self.topic = topic or settings.topics.lifecycle.name
        self.contract = EventContract(
            catalog, ContractRules(int(settings.validation.max_future_skew_s * 1000)), clock)
        self._clock = clock
        self._owned_registry: SchemaRegistry | None = None
        if registry is None:
            registry = self._owned_registry = registry_for(settings.schema_registry, catalog)
        self._encoder = Encoder(registry, self.topic)
        options = options or ProducerOptions()
        self._producer = Producer({
            **client_config(settings),
            "enable.idempotence": True,
            "acks": "all",
            # The Java clients' and aiokafka's (faust's) partitioner, so every producer of
            # ucwatch puts a child on the same partition whatever its client library.
            "partitioner": "murmur2_random",
            "linger.ms": options.linger_ms,
            "batch.size": options.batch_size,
            "compression.type": options.compression,
            "queue.buffering.max.messages": options.queue_max_messages,
            "delivery.timeout.ms": settings.kafka.delivery_timeout_ms,
            # Successful deliveries need no Python call each unless a tracker must hear
            # them; failures are all reported.
            "delivery.report.only.error": tracker is None,
            "on_delivery": self._record_failure if tracker is None else tracker.on_delivery,
        })
        self._tracker = tracker
        self._failures: list[str] = []
        self.produced = 0

    def publish(self, event: Mapping[str, Any], *, from_text: bool = False,
                on_failure: FailureCallback | None = None, reference: Any = None) -> str:
        """Validates, encodes and produces one event; returns its child_id."""
        schema, record = self.contract.normalize(event, from_text=from_text)
        self.publish_record(schema, record, on_failure=on_failure, reference=reference)
        child_id: str = record["child_id"]
        return child_id

    def publish_record(self, schema: SchemaVersion, record: dict[str, Any], *,
                       on_failure: FailureCallback | None = None, reference: Any = None) -> None:
        """Produces a record already normalized by `contract`."""
        value = self._encoder.encode(schema, record)
        callback = None if on_failure is None else _FailureForwarder(on_failure, reference, self._failures)
        self._produce(record["child_id"], value, callback, reference)

    def _produce(self, key: str, value: bytes, callback: Any, reference: Any = None) -> None:
        while True:
            try:
                if callback is None:
                    self._producer.produce(self.topic, value, key)
                else:
                    self._producer.produce(self.topic, value, key, on_delivery=callback)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.05)
        if self._tracker is not None and callback is None:  # produced: its answer comes in a later poll
            self._tracker.sent(value, reference)
        self.produced += 1
        if self.produced & 0x3FF == 0:
            self._producer.poll(0)

    def declare_watermark(self, source: str, complete_up_to_ms: int, *, issued_by: str = "sdk") -> int:
        """Declares `source`'s feed complete up to an instant (producers/watermarks.py): one
        SourceWatermark record on every partition of the topic, after the events this
        producer published before it; flushed. Returns how many partitions."""
        metadata = self._producer.list_topics(self.topic, timeout=10).topics[self.topic]
        if metadata.error is not None:
            raise DeliveryError(1, f"topic {self.topic}: {metadata.error.str()}")
        schema = default_catalog().latest("SourceWatermark", "control")
        now = int(self._clock() * 1000)
        for partition in sorted(metadata.partitions):
            value = self._encoder.encode(schema, watermark_record(source, complete_up_to_ms, now, partition,
                                                                  issued_by))
            self._producer.produce(self.topic, value, None, partition=partition)
        self.flush()
        return len(metadata.partitions)

    def flush(self, timeout_s: float = 120.0) -> None:
        """Waits for every acknowledgement; raises DeliveryError naming what was lost."""
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if remaining:
            raise DeliveryError(remaining, f"{remaining} record(s) still unacknowledged after {timeout_s} s")
        if failures:
            raise DeliveryError(len(failures), failures[0])

    def _record_failure(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failures.append(f"{error.str()} (topic {message.topic()})")

    def close(self) -> None:
        """Flushes, then releases the registry connection this producer opened."""
        try:
            self.flush()
        finally:
            close = getattr(self._owned_registry, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


class _FailureForwarder:
    """Per-record delivery callback: tells the caller which of its records failed."""

    __slots__ = ("_callback", "_failures", "_reference")

    def __init__(self, callback: FailureCallback, reference: Any, failures: list[str]) -> None:
        self._callback, self._reference, self._failures = callback, reference, failures

    def __call__(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failures.append(f"{error.str()} (topic {message.topic()})")
            self._callback(self._reference, error.str())


__all__ = ["EventProducer", "ProducerOptions"]
