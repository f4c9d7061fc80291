"""Throughput of publishing lifecycle events, against confluent-kafka in the same run.

    python -m bench.produce_bench [--events 200000] [--bootstrap 127.0.0.1:9092]

Measures, on the same simulated events and the same broker, one after the other:
  baseline  confluent-kafka producing the same pre-encoded bytes, keyed the same way,
            with the same producer settings (idempotent, acks=all, lz4);
  sdk       EventProducer.publish(dict): validate, encode, produce;
  file      `ucwatch produce` on the same events as a JSON Lines file: read, parse,
            validate, encode, produce, journal;
and, to show where the time goes, validation alone and Avro encoding alone.
Prints events/s and each ratio to the baseline. Machines here are shared and noisy:
compare ratios from one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.settings import KafkaSettings, Settings, TopicsSettings
from ucwatch.producers.run import produce_files
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import EventContract
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder
from ucwatch.simulate import SimulationConfig, simulate


def _settings(bootstrap: str, data_dir: Path) -> Settings:
    tag = uuid.uuid4().hex[:8]
    topics = TopicsSettings().prefixed(f"bench-{tag}")
    return Settings(data_dir=data_dir, kafka=KafkaSettings(bootstrap=bootstrap), topics=topics)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _simulated(count: int) -> list[dict[str, Any]]:
    return list(itertools.islice(simulate(SimulationConfig(seed=11, children=max(100, count // 14))), count))


def _baseline(settings: Settings, encoded: list[tuple[bytes, bytes]]) -> float:
    """confluent-kafka alone, producing the pre-encoded bytes with the SDK's settings."""
    baseline = Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4",
                         "queue.buffering.max.messages": 1_000_000})
    topic = settings.topics.alerts.name  # an empty topic of the same shape
    started = time.perf_counter()
    for key, value in encoded:
        while True:
            try:
                baseline.produce(topic, value, key)
                break
            except BufferError:
                baseline.poll(0.05)
    baseline.flush()
    return time.perf_counter() - started


def _sdk(settings: Settings, events: list[dict[str, Any]]) -> float:
    producer = EventProducer(settings)
    started = time.perf_counter()
    for event in events:
        producer.publish(event)
    producer.flush()
    return time.perf_counter() - started


def _file(settings: Settings, scratch: Path, events: list[dict[str, Any]]) -> float:
    source = scratch / "events.jsonl"
    source.write_text("".join(json.dumps(event) + "\n" for event in events))
    started = time.perf_counter()
    summary = produce_files(settings, [source])
    seconds = time.perf_counter() - started
    assert summary.published == len(events), summary.as_dict()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()

    events = _simulated(args.events)
    count = len(events)
    catalog = default_catalog()
    contract = EventContract(catalog)
    encoder = Encoder(EmbeddedRegistry(catalog), "bench")
    started = time.perf_counter()
    normalized = [contract.normalize(event) for event in events]
    validate_s = time.perf_counter() - started
    started = time.perf_counter()
    encoded = [(record["child_id"].encode(), encoder.encode(schema, record)) for schema, record in normalized]
    encode_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        settings = _settings(args.bootstrap, Path(scratch))
        file_settings = dataclasses.replace(settings, topics=_settings(args.bootstrap, Path(scratch)).topics)
        admin = wait_for_kafka(settings)
        ensure_topics(admin, settings)
        ensure_topics(admin, file_settings)
        baseline_s = _baseline(settings, encoded)
        sdk_s = _sdk(settings, events)
        file_s = _file(file_settings, Path(scratch), events)
        admin.delete_topics([t.name for s in (settings, file_settings) for t in s.topics.all()])

    base_rate = _rate(count, baseline_s)
    print(f"events: {count:,} simulated lifecycle events, {sum(len(v) for _, v in encoded) / count:.0f} bytes "
          "each on average")
    print(f"{'path':<44}{'events/s':>12}{'ratio':>8}")
    print(f"{'baseline: confluent-kafka, pre-encoded bytes':<44}{base_rate:>12,.0f}{1.0:>8.2f}")
    print(f"{'SDK: EventProducer.publish(dict)':<44}{_rate(count, sdk_s):>12,.0f}{baseline_s / sdk_s:>8.2f}")
    print(f"{'file: ucwatch produce (JSON Lines)':<44}{_rate(count, file_s):>12,.0f}{baseline_s / file_s:>8.2f}")
    print(f"{'  of which: contract validation alone':<44}{_rate(count, validate_s):>12,.0f}")
    print(f"{'  of which: Avro encoding alone':<44}{_rate(count, encode_s):>12,.0f}")


if __name__ == "__main__":
    main()
