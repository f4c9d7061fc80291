"""Throughput of one detection worker, and the time from a tick to its alert on Kafka.

    python -m bench.detect_bench [--children 5000] [--bootstrap 127.0.0.1:9092] [--store memory]

1. Publishes a simulated multi-year history (FY2019-2023) to fresh topics.
2. Baseline: a plain confluent-kafka consume-and-decode loop over that topic.
3. One `ucwatch worker` process (the full default policy) over the same topic; its rate is
   taken between the first and the last committed offset, so start-up is not counted.
4. Latency: for each of --rounds children encountered after the history with no
   referral, a tick crossing their 48 h deadline is written and the wall time until the
   HHS_REFERRAL_OVERDUE alert is readable on the alerts topic is measured.
Prints events/s, the ratio to the baseline and p50/p99 latency. Figures from a shared,
noisy 2-core machine: compare the ratio, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.progress import committed_records
from ucwatch.core.settings import KafkaSettings, Settings, StreamsSettings, TopicsSettings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.ticks import Ticker

AS_OF = datetime(2023, 10, 1, tzinfo=UTC)


def _settings(bootstrap: str, data_dir: Path, store: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    topics = TopicsSettings().prefixed(f"bench-{tag}")
    return Settings(data_dir=data_dir, kafka=KafkaSettings(bootstrap=bootstrap), topics=topics,
                    streams=StreamsSettings(app_id=f"bench-detect-{tag}", store=store))


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                "UCWATCH_STREAMS_APP_ID": settings.streams.app_id, "UCWATCH_STREAMS_STORE": settings.streams.store})
    for f in dataclasses.fields(TopicsSettings):
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = getattr(settings.topics, f.name).name
    return env


def _baseline(settings: Settings, count: int) -> float:
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    topic = settings.topics.lifecycle.name
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": uuid.uuid4().hex,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(settings.topics.lifecycle.partitions)])
    seen, started = 0, None
    while seen < count:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                continue
            started = started or time.perf_counter()
            decoder.decode_named(message.value())
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def _committed(settings: Settings, consumer: Consumer) -> int:
    return committed_records(consumer, settings.topics.lifecycle) or 0  # None: the group is forming


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="memory")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        settings = _settings(args.bootstrap, Path(scratch), args.store)
        ensure_topics(wait_for_kafka(settings), settings)
        with EventProducer(settings) as producer:
            count = 0
            for event in Simulation(SimulationConfig(seed=3, children=args.children)).events():
                producer.publish(event)
                count += 1
        ticker = Ticker(settings, issued_by="bench")
        ticker.tick(int(AS_OF.timestamp() * 1000))
        count += settings.topics.lifecycle.partitions
        baseline = _baseline(settings, count)

        worker = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker"], env=_environment(settings),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        group = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": settings.streams.app_id,
                          "enable.auto.commit": False})
        try:
            first = None
            while (done := _committed(settings, group)) < count:
                if done and first is None:
                    first = (time.perf_counter(), done)
                time.sleep(0.2)
            finished = time.perf_counter()
            rate = (count - first[1]) / (finished - first[0])
            latencies = _latencies(settings, ticker, args.rounds)
        finally:
            worker.terminate()
            worker.wait(60)
            group.close()
            ticker.close()

    print(f"history: {args.children:,} simulated children, {count:,} records on the lifecycle topic")
    print(f"{'path':<46}{'events/s':>10}{'ratio':>8}")
    print(f"{'baseline: confluent-kafka consume + decode':<46}{baseline:>10,.0f}{1.0:>8.2f}")
    print(f"{'ucwatch worker (' + args.store + ' store, default policy)':<46}{rate:>10,.0f}{rate / baseline:>8.2f}")
    print(f"tick -> alert on Kafka over {len(latencies)} rounds: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")


def _latencies(settings: Settings, ticker: Ticker, rounds: int) -> list[float]:
    """Per round, a fresh child with an unmet 48 h deadline, then the tick that passes it."""
    alerts = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": uuid.uuid4().hex,
                       "enable.auto.commit": False, "auto.offset.reset": "latest"})
    alerts.assign([TopicPartition(settings.topics.alerts.name, p, -1)
                   for p in range(settings.topics.alerts.partitions)])
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    results = []
    with EventProducer(settings) as producer:
        for round_number in range(rounds):
            occurred = AS_OF + timedelta(days=3 * round_number + 1)
            child = f"SYN-CH-{900_000_000 + round_number:09d}"
            stamp = occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            producer.publish({"event_id": str(uuid.uuid4()), "event_type": "ChildEncountered", "child_id": child,
                              "occurred_at": stamp, "recorded_at": stamp, "source": "CBP", "synthetic": True,
                              "agency": "CBP", "state": "TX", "age_years": 16, "sex": "FEMALE",
                              "country_of_birth": "HN"})
            producer.flush()
            time.sleep(0.3)  # let the worker apply the event before its deadline is ticked past
            started = time.perf_counter()
            ticker.tick(int((occurred + timedelta(hours=48, seconds=1)).timestamp() * 1000))
            while True:
                message = alerts.poll(0.01)
                if message is None or message.error():
                    continue
                alert = decoder.decode(message.value())
                if alert["child_id"] == child and alert["rule"] == "HHS_REFERRAL_OVERDUE":
                    results.append(time.perf_counter() - started)
                    break
    alerts.close()
    return results


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


if __name__ == "__main__":
    main()
