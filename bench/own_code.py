"""CPU per record of ucwatch's own detection code, without faust or a Kafka client in the loop.

    python -m bench.own_code --bootstrap HOST:PORT --topic LIFECYCLE [--records N] [--profile]

The lifecycle topic is read into memory first (not timed). Then a plain loop does, per
batch of the worker's `BATCH_SIZE` records, what `Detector.write_batch` (streams/app.py)
does between Kafka and faust: decode each record, hand it to the partition's
`PartitionProcessor`, encode every output (alerts, notifications, child-state snapshots)
as the worker sends it, and encode every state write the batch leaves as the table's
changelog would carry it. The store is a plain dict of those encoded rows, read back as
the table would give them. Timed with `time.process_time` (this process's CPU, not the
wall clock).

The cyclic garbage collector runs at the worker's threshold (streams/worker.py). The engine
is the compiled one where it is built (ucwatch/core/native.py); UCWATCH_PURE_PYTHON=1 runs its
sources instead, for the ratio between the two.
``--profile`` runs the loop under cProfile and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from ucwatch.core import native
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.app import BATCH_SIZE
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import Outputs, PartitionProcessor
from ucwatch.streams.records import OutputSchemas
from ucwatch.streams.state_codec import dumps_row, loads_row
from ucwatch.streams.worker import GC_THRESHOLD

LIFECYCLE_NAMESPACE = "gov.ucwatch.lifecycle."
TICK = "gov.ucwatch.control.ClockTick"


@dataclass(frozen=True)
class Message:
    partition: int
    value: bytes


def prefetch(bootstrap: str, topic: str, partitions: int, limit: int | None = None) -> list[Message]:
    """The topic's records up to its end (or `limit`), partitions interleaved as a consumer
    would hand them over."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        wanted = sum(ends.values()) if limit is None else min(limit, sum(ends.values()))
        consumer.assign([TopicPartition(topic, p, 0) for p in ends if ends[p]])
        out: list[Message] = []
        while len(out) < wanted:
            for message in consumer.consume(1000, 1.0):
                if message.error() is None:
                    out.append(Message(message.partition(), message.value()))
        return out[:wanted]
    finally:
        consumer.close()


class RowStore:
    """The table as the processor sees it: rows kept encoded, decoded when read."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        row = self.rows.get(key)
        return None if row is None else loads_row(row)

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = dumps_row(value)

    def items(self) -> Iterable[tuple[str, Any]]:
        return ((key, loads_row(row)) for key, row in self.rows.items())


def batches(messages: list[Message], size: int = BATCH_SIZE) -> Iterator[list[Message]]:
    for start in range(0, len(messages), size):
        yield messages[start:start + size]


def run(messages: list[Message]) -> dict[str, int]:
    """The detection work on `messages`, as the worker does it; returns what was produced."""
    catalog = default_catalog()
    registry = EmbeddedRegistry(catalog)
    decoder = Decoder(registry, catalog, logical_types=False)  # as the worker decodes
    schemas = OutputSchemas(catalog)
    encoders = {kind: Encoder(registry, kind) for kind in ("alerts", "notifications", "states")}
    engine = Engine(default_policy())
    store = RowStore()
    # made up front, as a worker makes them when the partitions are assigned: made on first
    # sight, a processor would rebuild its timers from every row the others had stored
    processors = {p: PartitionProcessor(engine, store, p) for p in sorted({m.partition for m in messages})}
    counts = {"records": 0, "alerts": 0, "notifications": 0, "snapshots": 0, "state_writes": 0, "state_bytes": 0}
    for batch in batches(messages):
        used: dict[int, PartitionProcessor] = {}
        outputs = Outputs()
        for message in batch:
            processor = used[message.partition] = processors[message.partition]
            name, record = decoder.decode_named(message.value)
            if name == TICK:
                outputs.extend(processor.on_tick(record["tick_at"]))
            elif name.startswith(LIFECYCLE_NAMESPACE):
                outputs.extend(processor.on_event(record))
        # what Detector._send_outputs encodes, keyed by child_id
        for key, record in outputs.alerts:
            key.encode()
            encoders["alerts"].encode(schemas.alert, record)
        for key, record in outputs.notifications:
            key.encode()
            encoders["notifications"].encode(schemas.notification, record)
        for key, record in outputs.states:
            key.encode()
            encoders["states"].encode(schemas.state, record)
        counts["alerts"] += len(outputs.alerts)
        counts["notifications"] += len(outputs.notifications)
        counts["snapshots"] += len(outputs.changed)
        # what durable.write_states stores: states, then clocks, each row encoded once
        for processor in used.values():
            writes = processor.drain_writes()
            for key, value in (*writes.states.items(), *writes.clock.items()):
                store[key] = value
            counts["state_writes"] += len(writes.states)
            counts["state_bytes"] += sum(len(store.rows[key]) for key in writes.states)
        counts["records"] += len(batch)
    return counts


def measure(messages: list[Message], profile: bool = False) -> tuple[float, dict[str, int]]:
    """(CPU seconds, counts) of `run` over `messages`, with the worker's collector threshold."""
    gc.collect()
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    counts = run(messages)
    if profiler is not None:
        profiler.disable()
    elapsed = time.process_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    messages = prefetch(args.bootstrap, args.topic, args.partitions, args.records)
    print(f"detection engine: {native.status()}", flush=True)
    for _ in range(args.repeat):
        elapsed, counts = measure(messages, args.profile)
        print(f"{counts['records']:,} records: {elapsed:.1f} s CPU, {elapsed / counts['records'] * 1e6:.1f} µs "
              f"per record ({counts['records'] / elapsed:,.0f}/s); {counts}")


if __name__ == "__main__":
    main()
