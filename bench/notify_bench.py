"""Throughput of `ucwatch notify` and the time from a notice on Kafka to its receiver.

    python -m bench.notify_bench [--notices 2000] [--rounds 50] [--senders 4] [--bootstrap 127.0.0.1:9092]

1. Publishes --notices NotificationSent records (HHS) to fresh topics.
2. Starts one `ucwatch notify` process against a local webhook receiver (plain HTTP on
   loopback, answering at once and keeping idempotency keys) and measures notices/s
   between the first and the last notice the receiver processed (start-up not counted).
3. Latency: with the notifier caught up, publishes one notice at a time (--rounds) and
   measures the wall time until the receiver has processed it.
Prints the rate, p50/p99 latency and the check that each notice arrived once. Figures from
a shared, noisy 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.settings import KafkaSettings, Settings, TopicsSettings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder

SECRET = "bench-webhook-secret-0123456789"


class Receiver:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.requests += 1
                    receiver.seen.setdefault(key, time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


def _publish(settings: Settings, producer: Producer, encoder: Encoder, start: int, count: int) -> list[str]:
    schema = default_catalog().latest("NotificationSent", "notifications")
    ids = []
    for i in range(start, start + count):
        child, notice_id = f"SYN-CH-{i:09d}", uuid.uuid4().hex
        producer.produce(settings.topics.notifications.name, encoder.encode(schema, {
            "notification_id": notice_id, "child_id": child, "recipient": "HHS", "kind": "FAILURE_TO_APPEAR",
            "fact_id": str(uuid.uuid4()), "occurred_at": datetime(2021, 3, 1, tzinfo=UTC), "reason": "bench",
            "synthetic": True}), child.encode())
        ids.append(notice_id)
    producer.flush(30)
    return ids


def _environment(settings: Settings, receiver: Receiver, senders: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                "UCWATCH_NOTIFY_GROUP_ID": f"bench-notify-{uuid.uuid4().hex[:8]}",
                "UCWATCH_NOTIFY_HHS_WEBHOOK_URL": receiver.url, "UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET,
                "UCWATCH_NOTIFY_SENDERS": str(senders), "UCWATCH_NOTIFY_METRICS_PORT": "0"})
    for f in dataclasses.fields(TopicsSettings):
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = getattr(settings.topics, f.name).name
    return env


def _wait(receiver: Receiver, ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with receiver.lock:
            if all(i in receiver.seen for i in ids):
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every notice arrived in {timeout_s} s")
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="notify-bench-")),
                        kafka=KafkaSettings(bootstrap=args.bootstrap),
                        topics=TopicsSettings().prefixed(f"bench-{tag}"))
    admin = wait_for_kafka(settings)
    ensure_topics(admin, settings)
    producer = Producer({**client_config(settings), "linger.ms": 5})
    encoder = Encoder(EmbeddedRegistry(default_catalog()), settings.topics.notifications.name)
    receiver = Receiver()
    ids = _publish(settings, producer, encoder, 0, args.notices)
    log = settings.data_dir / "notify.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "notify"],
                                   env=_environment(settings, receiver, args.senders), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        _wait(receiver, ids, 600)
        times = sorted(receiver.seen[i] for i in ids)
        rate = (len(times) - 1) / (times[-1] - times[0])
        latencies = []
        for round_ in range(args.rounds):
            published = time.perf_counter()
            [notice_id] = _publish(settings, producer, encoder, args.notices + round_, 1)
            _wait(receiver, [notice_id], 60)
            latencies.append(receiver.seen[notice_id] - published)
            time.sleep(0.05)
        cuts = statistics.quantiles(latencies, n=100)
        if os.environ.get("BENCH_VERBOSE"):
            print([round(x * 1000) for x in latencies], file=sys.stderr)
        print(json.dumps({
            "notices": args.notices, "senders": args.senders, "notices_per_s": round(rate, 1),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "latency_ms_p99": round(cuts[98] * 1000, 1),
            "requests": receiver.requests, "distinct_notices": len(receiver.seen)}, indent=2))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        admin.delete_topics([t.name for t in settings.topics.all()])


if __name__ == "__main__":
    main()
