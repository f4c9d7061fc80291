"""`ucwatch console` as a process for the integration and browser tests: users made with
`ucwatch users add`, alerts published to the alerts topic as the detector does, and the
console's topics read back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

from tests.conftest import settings_env
from tests.helpers import read_topic
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder

CATALOG = default_catalog()
PASSWORD = "it-console-password-1"
CLI = [sys.executable, "-m", "ucwatch.app.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ConsoleProcess:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        ensure_topics(wait_for_kafka(settings), settings)
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{free_port()}"
        self.env = {**settings_env(settings), "UCWATCH_CONSOLE_PORT": str(self.port),
                    "UCWATCH_CONSOLE_METRICS_PORT": self.metrics_url.rsplit(":", 1)[1]}
        self.log_file = tmp_path / "console.log"
        self.process: subprocess.Popen[bytes] | None = None

    def add_user(self, name: str, role: str) -> None:
        done = subprocess.run([*CLI, "users", "add", name, "--role", role], env=self.env, input=PASSWORD + "\n",
                              capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr

    def start(self) -> ConsoleProcess:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen([*CLI, "console"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_file.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.3)
        raise AssertionError(f"the console did not become ready:\n{self.log_file.read_text()}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(20)


def publish_alert(settings: Settings, child_id: str, *, severity: str = "CRITICAL", rule: str = "WHEREABOUTS_UNKNOWN",
                  sequence: int = 1, change: str = "OPENED", alert_id: str | None = None) -> str:
    """An AlertChanged record on the alerts topic, keyed and partitioned as the detector does."""
    alert_id = alert_id or uuid.uuid4().hex
    now = datetime.now(UTC)
    record = {"alert_id": alert_id, "child_id": child_id, "rule": rule, "change": change, "status": "OPEN",
              "severity": severity, "deadline": now - timedelta(days=1), "fired_at": now,
              "reason": "failure to appear, then 14 days without contact", "start_event_id": str(uuid.uuid4()),
              "basis": "OIG-24-46", "sequence": sequence, "synthetic": True}
    publish_alert_change(settings, record)
    return alert_id


def publish_alert_change(settings: Settings, record: dict[str, Any]) -> None:
    """One AlertChanged record on the alerts topic, keyed by its child as the workers key it."""
    topic = settings.topics.alerts.name
    value = Encoder(EmbeddedRegistry(CATALOG), topic).encode(CATALOG.latest("AlertChanged", "alerts"), record)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "partitioner": "murmur2_random"})
    producer.produce(topic, value, record["child_id"].encode())
    assert producer.flush(30) == 0


def actions_on(settings: Settings) -> list[dict[str, Any]]:
    decoder = Decoder(EmbeddedRegistry(CATALOG), CATALOG)
    return [decoder.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.actions.name)
            if r.value is not None]


def audit_entries(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.audit.name)
            if r.value is not None]
