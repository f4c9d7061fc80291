"""Alert-to-browser latency of `ucwatch console` (see bench/console_bench.py).

The console runs as a process (as in production) on topics of its own (``bench-<id>.``);
one SSE client reads ``/events`` with a logged-in session; a producer publishes
AlertChanged records at the rate asked. Each alert's latency is from just before it is
produced to the moment the client has read its event: the broker's acknowledgement, the
console's feed and fold, and the stream, as a browser would see it (less the page's own
fetch of the queue, which the queue figures measure).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import Producer

from ucwatch.console.roles import Role
from ucwatch.console.users import UserStore, users_path
from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.settings import KafkaSettings, Settings, TopicsSettings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder

PASSWORD = "bench-console-password"


def measure(bootstrap: str, rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="ucwatch-console-bench-") as folder:
        settings = Settings(data_dir=Path(folder), kafka=KafkaSettings(bootstrap=bootstrap),
                            topics=TopicsSettings().prefixed(f"bench-{uuid.uuid4().hex[:8]}"))
        ensure_topics(wait_for_kafka(settings), settings)
        UserStore(users_path(settings)).add("bench", Role.OPERATOR, PASSWORD)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        log = (Path(folder) / "console.log").open("wb")
        console = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "console", "--port", str(port)],
                                   env=_environment(settings), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, console)
            received: dict[str, float] = {}
            reader = _SseReader(url, received)
            reader.start()
            if not reader.connected.wait(30):
                raise RuntimeError("the SSE stream did not open")
            sent = _publish(settings, rate, seconds)
            deadline = time.monotonic() + 10
            while len(received) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            reader.stop()
        finally:
            console.terminate()
            console.wait(30)
            log.close()
    latencies = sorted((received[a] - t) * 1000 for a, t in sent.items() if a in received)
    print(f"alert-to-browser latency, {rate:g} alerts/s for {seconds:g} s: {len(latencies)} of {len(sent)} "
          f"events received")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"  p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms "
              f"(target: within 2 s)")


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap})
    for f in dataclasses.fields(TopicsSettings):
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = getattr(settings.topics, f.name).name
    return env


def _wait_ready(url: str, console: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if console.poll() is not None:
            raise RuntimeError(f"the console exited with {console.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.3)
    raise RuntimeError("the console did not become ready in 120 s")


class _SseReader(threading.Thread):
    """A logged-in client of /events: notes when each alert's event arrives."""

    def __init__(self, url: str, received: dict[str, float]) -> None:
        super().__init__(daemon=True)
        self._http = httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=None), trust_env=False)
        token = re.search(r'name="csrf" value="([^"]+)"', self._http.get("/login").text)
        assert token is not None
        answer = self._http.post("/login", data={"user": "bench", "password": PASSWORD, "csrf": token.group(1)})
        assert answer.status_code == 303, answer.text
        self._received = received
        self.connected = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        with self._http.stream("GET", "/events") as response:
            self.connected.set()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: "):
                    message = json.loads(line[6:])
                    if message.get("kind") == "alert":
                        self._received.setdefault(message["alert_id"], time.time())

    def stop(self) -> None:
        self._stop.set()
        self._http.close()


def _publish(settings: Settings, rate: float, seconds: float) -> dict[str, float]:
    catalog = default_catalog()
    topic = settings.topics.alerts.name
    encoder = Encoder(EmbeddedRegistry(catalog), topic)
    schema = catalog.latest("AlertChanged", "alerts")
    producer = Producer({**client_config(settings), "partitioner": "murmur2_random",
                         "linger.ms": 0, "acks": "all"})
    sent: dict[str, float] = {}
    count = int(rate * seconds)
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        alert_id, child = uuid.uuid4().hex, f"SYN-CH-{i:09d}"
        now = datetime.now(UTC)
        value = encoder.encode(schema, {
            "alert_id": alert_id, "child_id": child, "rule": "LOST_CONTACT", "change": "OPENED", "status": "OPEN",
            "severity": "HIGH", "deadline": now - timedelta(days=1), "fired_at": now, "reason": "bench",
            "start_event_id": str(uuid.uuid4()), "basis": "bench", "sequence": 1, "synthetic": True})
        sent[alert_id] = time.time()
        producer.produce(topic, value, child.encode())
        producer.poll(0)
    producer.flush(30)
    return sent
