"""Throughput of one detection worker against what runs under it, and the time from a tick
to its alert on Kafka.

    python -m bench.detect_bench [--children 24000] [--bootstrap 127.0.0.1:9092] [--store memory]
                                 [--history PREFIX] [--workers 1] [--transport kafka] [--rounds 30]

1. Publishes a simulated FY2019-2023 history to fresh topics (24,000 children: 296,251
   records; ``--children`` sets the size), or, with ``--history PREFIX``, reuses the
   topics an earlier run published (its prefix is printed).
2. Baseline: a plain confluent-kafka consume-and-decode loop over the whole topic (on a
   small topic the consumer's start-up dominates: 22k/s on 37k records, 52-79k/s on 296k).
3. ucwatch's own code without faust or Kafka (bench/own_code.py): CPU per record of the
   decoder, processor, engine, encoders and state codec over the records read beforehand;
   with the engine compiled (ucwatch/core/native.py), again in a process that runs its Python
   sources (UCWATCH_PURE_PYTHON=1), for the ratio of the two.
4. faust's own loop (bench/faust_bare.py): take_events and decode, nothing sent, no table,
   on uvloop as the worker runs.
5. ``--workers`` `ucwatch worker` processes of one group (the full default policy).
   The rates of 4 and 5 are taken from the group's committed offsets, between the first
   commit and the last, so start-up is not counted.
6. Latency: for each of --rounds children encountered after the history with no
   referral, a tick crossing their 48 h deadline is written and the wall time until the
   HHS_REFERRAL_OVERDUE alert is readable on the alerts topic is measured.
Prints events/s and the ratios to the baseline and to faust's own loop. Figures from a
shared, noisy 2-core machine: compare ratios taken in one run, not numbers across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.progress import committed_records
from ucwatch.core.settings import KafkaSettings, Settings, StreamsSettings, TopicsSettings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.ticks import Ticker

AS_OF = datetime(2023, 10, 1, tzinfo=UTC)


def _settings(bootstrap: str, data_dir: Path, store: str, prefix: str) -> Settings:
    topics = TopicsSettings().prefixed(prefix)
    return Settings(data_dir=data_dir, kafka=KafkaSettings(bootstrap=bootstrap), topics=topics,
                    streams=StreamsSettings(app_id=f"{prefix}-detect", store=store))


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                "UCWATCH_STREAMS_APP_ID": settings.streams.app_id, "UCWATCH_STREAMS_STORE": settings.streams.store})
    for f in dataclasses.fields(TopicsSettings):
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = getattr(settings.topics, f.name).name
    return env


def _engine_kind() -> str:
    from ucwatch.core import native
    return "compiled" if native.compiled() else "pure Python"


def _pure_python_own_code(bootstrap: str, topic: str, partitions: int) -> float:
    """µs of CPU per record of bench/own_code.py run on the engine's Python sources."""
    env = {**os.environ, "UCWATCH_PURE_PYTHON": "1"}
    done = subprocess.run([sys.executable, "-m", "bench.own_code", "--bootstrap", bootstrap, "--topic", topic,
                           "--partitions", str(partitions)], env=env, capture_output=True, text=True, check=True)
    engine, result = done.stdout.strip().splitlines()[-2:]
    if "pure Python" not in engine:
        raise RuntimeError(f"bench.own_code ran {engine!r}, not the sources")
    return float(re.search(r"([0-9.]+) µs per record", result).group(1))  # type: ignore[union-attr]


def _baseline(settings: Settings, count: int) -> float:
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    topic = settings.topics.lifecycle.name
    consumer = Consumer({**client_config(settings), "group.id": uuid.uuid4().hex,
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


@dataclasses.dataclass(frozen=True)
class GroupRun:
    """What a group of processes did between its first commit and its last."""

    rate: float              # records/s
    cpu_us: float            # µs of the processes' CPU per record: holds on a loaded machine, the rate does not
    seconds: float           # between the first commit and the last
    peak_rss_mb: list[float]  # each process's peak resident memory (VmHWM)


def _group_rate(settings: Settings, processes: list[subprocess.Popen], count: int) -> GroupRun:
    """The run of the group `settings.streams.app_id` until it has committed `count` records."""
    group = Consumer({**client_config(settings), "group.id": settings.streams.app_id, "enable.auto.commit": False})
    try:
        first = None
        while (done := _committed(settings, group)) < count:
            if ended := [(process.pid, process.poll()) for process in processes if process.poll() is not None]:
                raise RuntimeError(f"process(es) of group {settings.streams.app_id} exited (pid, status): {ended}, "
                                   f"after {done:,} of {count:,} records were committed")
            if done and first is None:
                first = (time.perf_counter(), done, _cpu_seconds(processes))
            time.sleep(0.2)
        assert first is not None
        records, seconds = count - first[1], time.perf_counter() - first[0]
        cpu_s = _cpu_seconds(processes) - first[2]
        return GroupRun(records / seconds, cpu_s / records * 1e6, seconds, [_peak_rss_mb(p) for p in processes])
    finally:
        group.close()


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User and system CPU of the processes so far, all threads (Linux /proc)."""
    ticks = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(process: subprocess.Popen) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {process.pid}")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _fresh_group(settings: Settings, name: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return dataclasses.replace(settings, streams=dataclasses.replace(settings.streams, app_id=f"bench-{name}-{tag}"))


def _publish(settings: Settings, children: int) -> int:
    ensure_topics(wait_for_kafka(settings), settings)
    with EventProducer(settings) as producer:
        for event in Simulation(SimulationConfig(seed=3, children=children)).events():
            producer.publish(event)
    ticker = Ticker(settings, issued_by="bench")
    try:
        ticker.tick(int(AS_OF.timestamp() * 1000))
    finally:
        ticker.close()
    return _records(settings)


def _records(settings: Settings) -> int:
    consumer = Consumer({**client_config(settings), "group.id": uuid.uuid4().hex})
    try:
        topic = settings.topics.lifecycle
        return sum(consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
                   for p in range(topic.partitions))
    finally:
        consumer.close()


def main() -> None:  # noqa: PLR0915  one step after another, printed together
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=24000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="memory")
    parser.add_argument("--history", default="", help="the topic prefix of a history published by an earlier run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--transport", choices=["kafka", "confluent"], default="kafka",
                        help="faust's driver in the bare faust loop")
    parser.add_argument("--rounds", type=int, default=30, help="latency rounds (0: none)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["own", "faust", "worker"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        prefix = args.history or f"bench-{uuid.uuid4().hex[:8]}"
        settings = _settings(args.bootstrap, Path(scratch), args.store, prefix)
        count = _records(settings) if args.history else _publish(settings, args.children)
        print(f"history: topics {prefix}.*, {count:,} records on the lifecycle topic", flush=True)
        baseline = _baseline(settings, count)
        rows = [("baseline: confluent-kafka consume + decode", baseline)]
        cpu_rows: list[tuple[str, float]] = []
        if "own" not in args.skip:
            from bench import own_code  # here: a run of an older checkout (PYTHONPATH) lacks its modules

            messages = own_code.prefetch(args.bootstrap, settings.topics.lifecycle.name,
                                         settings.topics.lifecycle.partitions)
            cpu_s, produced = own_code.measure(messages)
            print(f"ucwatch's own code, no faust: {cpu_s / count * 1e6:.1f} µs of CPU per record "
                  f"({count / cpu_s:,.0f}/s); {produced['alerts']:,} alert changes, {produced['snapshots']:,} "
                  f"snapshots, {produced['state_writes']:,} state writes "
                  f"({produced['state_bytes'] / max(produced['state_writes'], 1):,.0f} bytes each)", flush=True)
            rows.append((f"ucwatch's own code, no faust (CPU), {_engine_kind()}", count / cpu_s))
            cpu_rows.append((f"ucwatch's own code, no faust, {_engine_kind()}", cpu_s / count * 1e6))
            del messages
            if _engine_kind() == "compiled":
                pure_us = _pure_python_own_code(args.bootstrap, settings.topics.lifecycle.name,
                                                settings.topics.lifecycle.partitions)
                print(f"ucwatch's own code, no faust, pure Python: {pure_us:.1f} µs of CPU per record; compiled "
                      f"takes {cpu_s / count * 1e6 / pure_us:.2f} of that", flush=True)
                rows.append(("ucwatch's own code, no faust (CPU), pure Python", 1e6 / pure_us))
                cpu_rows.append(("ucwatch's own code, no faust, pure Python", pure_us))
        bare = None
        if "faust" not in args.skip:
            bare_settings = _fresh_group(settings, "bare")
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.faust_bare", "--bootstrap", args.bootstrap, "--topic",
                 settings.topics.lifecycle.name, "--app-id", bare_settings.streams.app_id, "--transport",
                 args.transport, "--datadir", str(Path(scratch) / "bare"), "--loop", "uvloop"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                bare_run = _group_rate(bare_settings, [process], count)
                bare, bare_cpu = bare_run.rate, bare_run.cpu_us
            finally:
                _stop([process])
            rows.append((f"faust alone: take_events + decode ({args.transport}://, uvloop)", bare))
            cpu_rows.append(("faust alone", bare_cpu))
        latencies: list[float] = []
        if "worker" not in args.skip:
            worker_settings = _fresh_group(settings, "detect")
            env = _environment(worker_settings)
            logs = Path(tempfile.gettempdir()) / "ucwatch-bench" / worker_settings.streams.app_id
            logs.mkdir(parents=True, exist_ok=True)
            print(f"worker logs: {logs}", flush=True)
            workers = [subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker", "--name", f"w{n}"],
                                        env=env, stdout=(logs / f"w{n}.log").open("wb"), stderr=subprocess.STDOUT)
                       for n in range(args.workers)]
            try:
                run = _group_rate(worker_settings, workers, count)
                rows.append((f"ucwatch: {args.workers} worker(s) ({args.store} store, default policy)", run.rate))
                cpu_rows.append((f"ucwatch worker(s), {args.workers} process(es) together", run.cpu_us))
                print(f"ucwatch worker(s): {run.seconds:,.0f} s between the first commit and the last; peak "
                      f"memory {', '.join(f'{mb:,.0f}' for mb in run.peak_rss_mb)} MB (VmHWM, per process)")
                if args.rounds:
                    ticker = Ticker(worker_settings, issued_by="bench")
                    try:
                        latencies = _latencies(worker_settings, ticker, args.rounds)
                    finally:
                        ticker.close()
            finally:
                _stop(workers)

    print(f"{'path':<56}{'events/s':>10}{'/ baseline':>12}{'/ faust':>9}")
    for label, value in rows:
        against_faust = f"{value / bare:>9.2f}" if bare else f"{'':>9}"
        print(f"{label:<56}{value:>10,.0f}{value / baseline:>12.3f}{against_faust}")
    for label, micros in cpu_rows:
        print(f"CPU per record, {label}: {micros:.0f} µs (one core's worth: {1e6 / micros:,.0f}/s)")
    if latencies:
        print(f"tick -> alert on Kafka over {len(latencies)} rounds: p50 {statistics.median(latencies) * 1000:.0f} "
              f"ms, p99 {_percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")


def _latencies(settings: Settings, ticker: Ticker, rounds: int) -> list[float]:
    """Per round, a fresh child with an unmet 48 h deadline, then the tick that passes it."""
    alerts = Consumer({**client_config(settings), "group.id": uuid.uuid4().hex,
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
