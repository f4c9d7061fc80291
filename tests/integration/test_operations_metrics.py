"""Operations metrics of a real detection worker and a real sink, scraped over HTTP as
Prometheus would: the counters move with what was published, /readyz answers 200 once the
partitions are assigned, the clock gauges follow the ticks, and a clock that stops is
reported once (a gauge, a warning, a CLOCK_STALLED alert) and once again when it moves."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import settings_env
from tests.helpers import sample_event
from tests.integration.detect_support import alert_records, stop_worker, wait_until_processed, worker_log
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.streams.ticks import Ticker

pytestmark = pytest.mark.kafka

STALL_S = 10.0
CHILDREN = 12
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def by_partition(samples: Samples, name: str) -> dict[int, float]:
    return {int(dict(labels)["partition"]): v for (n, labels), v in samples.items() if n == name}


def all_zero(lags: dict[int, float], partitions: int) -> bool:
    """A lag measured for every partition, and nothing left on any."""
    return len(lags) == partitions and not any(lags.values())


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.5)


def status(url: str, path: str) -> int:
    try:
        return httpx.get(f"{url}{path}", timeout=5).status_code
    except httpx.TransportError:
        return 0


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    ensure_topics(wait_for_kafka(settings), settings)
    port = free_port()
    env = {**settings_env(settings), "UCWATCH_STREAMS_METRICS_PORT": str(port),
           "UCWATCH_STREAMS_CLOCK_STALL_S": str(STALL_S)}
    with worker_log(settings, tmp_path).open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker", "--name", "w0"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        stop_worker(process)


def test_worker_metrics_health_and_the_clock_watch(settings: Settings, tmp_path: Path,
                                                   worker: tuple[subprocess.Popen, str]) -> None:
    process, url = worker
    partitions = settings.topics.lifecycle.partitions
    eventually(lambda: status(url, "/readyz") == 200, "the worker ready", timeout_s=120)
    assert "partitions [0, 1" in httpx.get(f"{url}/readyz", timeout=5).text
    assert status(url, "/healthz") == 200

    with EventProducer(settings) as producer:
        for child in range(CHILDREN):
            producer.publish(sample_event("ChildEncountered", child=child))
    garbage = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    garbage.produce(settings.topics.lifecycle.name, key=b"SYN-CH-000000001", value=b"not avro")
    assert garbage.flush(30) == 0
    tick_at_s = int(time.time()) - 3600  # an hour behind: every 2021 deadline falls due
    ticker = Ticker(settings, issued_by="test")
    try:
        ticker.tick(tick_at_s * 1000)
        wait_until_processed(settings, process)

        samples = scrape(url)
        assert value(samples, "ucwatch_detect_records_total", kind="event") == CHILDREN
        assert value(samples, "ucwatch_detect_records_total", kind="tick") == partitions
        assert value(samples, "ucwatch_detect_records_total", kind="dead_letter") == 1
        assert value(samples, "ucwatch_detect_dead_letters_total", reason="not_framed") == 1
        assert value(samples, "ucwatch_detect_batch_seconds_count") >= 1  # type: ignore[operator]
        detected = Counter((a["rule"], a["change"]) for a in alert_records(settings) if a["rule"] != "CLOCK_STALLED")
        counted = {(dict(labels)["rule"], dict(labels)["change"]): v for (name, labels), v in samples.items()
                   if name == "ucwatch_detect_alerts_total"}
        assert detected and counted == detected
        # the clock of every partition is the tick's, and trails the wall clock by about an hour
        assert by_partition(samples, "ucwatch_clock_seconds") == dict.fromkeys(range(partitions), tick_at_s)
        lags = by_partition(samples, "ucwatch_clock_lag_seconds")
        assert set(lags) == set(range(partitions)) and all(3600 <= lag < 3600 + 120 for lag in lags.values()), lags
        assert value(samples, "ucwatch_detect_partitions") == partitions
        eventually(lambda: all_zero(by_partition(scrape(url), "ucwatch_detect_consumer_lag"), partitions),
                   "the consumer lag measured, and 0")

        # the clock does not move for STALL_S: stalled, once per partition
        eventually(lambda: by_partition(scrape(url), "ucwatch_clock_stalled")
                   == dict.fromkeys(range(partitions), 1.0), "every partition's clock stalled", timeout_s=60)
        ticker.tick(int(time.time() * 1000))  # the ticker is back
        eventually(lambda: by_partition(scrape(url), "ucwatch_clock_stalled")
                   == dict.fromkeys(range(partitions), 0.0), "every partition's clock moving again", timeout_s=60)
    finally:
        ticker.close()
    text = worker_log(settings, tmp_path).read_text(errors="replace")
    for partition in range(partitions):
        assert text.count(f"partition {partition} stalled at") == 1, text[-3000:]
        assert text.count(f"partition {partition} moving again") == 1, text[-3000:]

    def stall_alerts() -> list[dict]:
        return [a for a in alert_records(settings) if a["rule"] == "CLOCK_STALLED"]

    eventually(lambda: len(stall_alerts()) == 2 * partitions, "an alert opened and resolved per partition")
    assert Counter(a["change"] for a in stall_alerts()) == {"OPENED": partitions, "RESOLVED": partitions}
    assert len({a["alert_id"] for a in stall_alerts()}) == partitions
    assert status(url, "/healthz") == 200 and status(url, "/nothing") == 404


def test_a_restarted_worker_reports_the_stored_clock_before_any_new_record(settings: Settings,
                                                                            tmp_path: Path) -> None:
    """The clocks come from the table (RocksDB here) when no record has arrived since the start."""
    settings = dataclasses.replace(settings, streams=dataclasses.replace(settings.streams, store="rocksdb"))
    ensure_topics(wait_for_kafka(settings), settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**settings_env(settings), "UCWATCH_STREAMS_METRICS_PORT": str(port)}
    tick_at_s = int(time.time()) - 600
    ticker = Ticker(settings, issued_by="test")
    try:
        ticker.tick(tick_at_s * 1000)
    finally:
        ticker.close()
    for run in ("first", "restarted"):
        with worker_log(settings, tmp_path).open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker", "--name", "w0"],
                                       env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            if run == "first":
                wait_until_processed(settings, process)
            eventually(lambda: status(url, "/readyz") == 200, f"the {run} worker ready", timeout_s=120)
            eventually(lambda: by_partition(scrape(url), "ucwatch_clock_seconds")
                       == dict.fromkeys(range(settings.topics.lifecycle.partitions), tick_at_s),
                       f"the {run} worker's clocks at the tick")
            if run == "restarted":
                assert not value(scrape(url), "ucwatch_detect_records_total", kind="tick")  # none read again
        finally:
            stop_worker(process)


def test_sink_metrics_and_health(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**settings_env(settings), "UCWATCH_SINK_GROUP_ID": f"sink-{settings.topics.lifecycle.name}",
           "UCWATCH_SINK_BATCH_SECONDS": "0.3", "UCWATCH_SINK_SERVE_QUERIES": "false",
           "UCWATCH_SINK_METRICS_PORT": str(port)}
    with (tmp_path / "sink.log").open("ab") as log:
        sink = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "sink"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        eventually(lambda: status(url, "/readyz") == 200, "the sink ready", timeout_s=120)
        assert status(url, "/healthz") == 200
        with EventProducer(settings) as producer:
            for child in range(CHILDREN):
                producer.publish(sample_event("ChildEncountered", child=child))
        eventually(lambda: value(scrape(url), "ucwatch_sink_rows_total", table="events") == CHILDREN,
                   f"{CHILDREN} event rows landed")
        samples = scrape(url)
        assert value(samples, "ucwatch_sink_batch_insert_seconds_count", table="events") >= 1  # type: ignore[operator]
        assert value(samples, "ucwatch_sink_replayed_batches_total") == 0
        assert value(samples, "ucwatch_sink_partitions") > 0  # type: ignore[operator]
        lifecycle = settings.topics.lifecycle.name

        def lifecycle_lag() -> dict[int, float]:
            return {int(dict(labels)["partition"]): v for (name, labels), v in scrape(url).items()
                    if name == "ucwatch_sink_consumer_lag" and dict(labels)["topic"] == lifecycle}

        eventually(lambda: all_zero(lifecycle_lag(), settings.topics.lifecycle.partitions),
                   "the sink's consumer lag measured, and 0")
    finally:
        sink.terminate()
        sink.wait(60)
    assert "sink: metrics and health at" in (tmp_path / "sink.log").read_text(errors="replace")
