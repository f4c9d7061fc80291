"""Clock ticks: records written into every partition of the lifecycle topic to advance
event time where no event comes. The processor fires deadlines only when a partition's
clock passes them, so a quiet partition needs ticks; replaying the log replays them too.

`write_ticks` is what `ucwatch tick --at TIMESTAMP` and the live ticker of `ucwatch run`
call. Reading the wall clock to choose a tick's time is fine: the tick is then part of the
log, and the processor decides from the log alone.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaError, Message, Producer

from ucwatch.core.errors import DeliveryError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Encoder
from ucwatch.streams.records import OutputSchemas, tick_record

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, settings: Settings, issued_by: str) -> None:
        catalog = default_catalog()
        self._topic = settings.topics.lifecycle.name
        self._schema = OutputSchemas(catalog).tick
        self._registry = registry_for(settings.schema_registry, catalog)
        self._encoder = Encoder(self._registry, self._topic)
        self._producer = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 5})
        self._issued_by = issued_by
        self._partitions: list[int] | None = None

    def partitions(self) -> list[int]:
        if self._partitions is None:
            metadata = self._producer.list_topics(self._topic, timeout=10).topics[self._topic]
            if metadata.error is not None:
                raise DeliveryError(1, f"topic {self._topic}: {metadata.error.str()}")
            self._partitions = sorted(metadata.partitions)
        return self._partitions

    def tick(self, at_ms: int) -> int:
        """Writes one tick to every partition and waits for Kafka; returns how many."""
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error.str())

        partitions = self.partitions()
        for partition in partitions:
            value = self._encoder.encode(self._schema, tick_record(at_ms, partition, self._issued_by))
            self._producer.produce(self._topic, value, None, partition=partition, on_delivery=on_delivery)
        remaining = self._producer.flush(30)
        if failures or remaining:
            raise DeliveryError(len(failures) + remaining, failures[0] if failures else "flush timed out")
        return len(partitions)

    def close(self) -> None:
        close = getattr(self._registry, "close", None)
        if close is not None:
            close()


def tick_live(settings: Settings, every_s: float, stop: threading.Event) -> None:
    """Writes a wall-clock tick to every partition every `every_s` seconds until `stop` is set
    (the live ticker of `ucwatch run`); a failed tick is logged and retried at the next one."""
    ticker = Ticker(settings, issued_by="ticker")
    try:
        while not stop.wait(every_s):
            try:
                ticker.tick(int(time.time() * 1000))
            except Exception as exc:  # the next tick carries the clock as far; nothing is lost
                log.warning("writing a clock tick failed (%s); retrying in %.0f s", exc, every_s)
    finally:
        ticker.close()
