"""Shared fixtures: the real Kafka broker and per-test settings with unique topics.

The broker is started once per session by the project's own deploy/local/kafka.sh in a
temporary home folder on its own port, and stopped at the end; set
UCWATCH_TEST_KAFKA_BOOTSTRAP to use a broker that is already running instead.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ucwatch.core.settings import KafkaSettings, Settings, StreamsSettings, TopicSettings, TopicsSettings

REPO = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"
REGISTRY_SCRIPT = REPO / "deploy" / "local" / "registry.sh"


def _free_port_pair() -> int:
    """A port P such that P and P+1000 (its controller) are free."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 1000 < 65000 and _is_free(port + 1000):
            return port
    raise RuntimeError("no free port pair for the test broker")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("UCWATCH_TEST_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    home = tmp_path_factory.mktemp("kafka-home")
    port = _free_port_pair()
    env = {**os.environ, "UCWATCH_KAFKA_HOME": str(home), "UCWATCH_KAFKA_PORT": str(port)}
    started = subprocess.run(["bash", str(KAFKA_SCRIPT), "start"], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)
        pytest.fail(f"the test broker did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)


class Broker:
    """A single Kafka node of a test's own (to stop and start again), by deploy/local/kafka.sh."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port_pair()
        self.env = {**os.environ, "UCWATCH_KAFKA_HOME": str(home), "UCWATCH_KAFKA_PORT": str(self.port)}
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        done = subprocess.run(["bash", str(KAFKA_SCRIPT), command], env=self.env, capture_output=True,
                              text=True, check=False, timeout=180)
        assert done.returncode == 0, f"kafka.sh {command}:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def kill(self) -> None:
        """SIGKILLs the node: an outage at once, where `stop` shuts it down in order (seconds
        in which it still takes records)."""
        pid = int((self.home / "node-1" / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, for tests that stop and restart it."""
    broker = Broker(tmp_path / "kafka-home")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def confluent_registry_url() -> Iterator[str]:
    """A real Confluent-compatible schema registry: Apicurio Registry, started by
    deploy/local/registry.sh on a free port (or UCWATCH_TEST_REGISTRY_URL)."""
    existing = os.environ.get("UCWATCH_TEST_REGISTRY_URL")
    if existing:
        yield existing
        return
    env = {**os.environ, "UCWATCH_REGISTRY_PORT": str(_free_port_pair())}
    started = subprocess.run(["bash", str(REGISTRY_SCRIPT), "start"], env=env, capture_output=True, text=True,
                             check=False)
    if started.returncode != 0:
        subprocess.run(["bash", str(REGISTRY_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)
        pytest.fail(f"the test registry did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(REGISTRY_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)


MARKER_OF_FIXTURE = {"kafka_bootstrap": "kafka", "own_broker": "kafka", "confluent_registry_url": "registry"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers tell the truth: a test that needs the broker or the registry says so, so
    that `-m "not kafka"` really runs without them."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in fixtures and item.get_closest_marker(marker) is None:
                raise pytest.UsageError(f"{item.nodeid} uses {fixture} but is not marked {marker}")


def unique_topics(prefix: str = "t") -> TopicsSettings:
    return TopicsSettings().prefixed(f"{prefix}-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session broker, unique topics, a private data folder."""
    return Settings(data_dir=tmp_path / "data",
                    kafka=KafkaSettings(bootstrap=kafka_bootstrap, connect_timeout_s=20.0,
                                        delivery_timeout_ms=30_000),
                    topics=unique_topics(),
                    streams=StreamsSettings(app_id=f"detect-{uuid.uuid4().hex[:10]}", store="memory"))


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as UCWATCH_ environment variables, for running the CLI as a process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                "UCWATCH_KAFKA_CONNECT_TIMEOUT_S": str(settings.kafka.connect_timeout_s),
                "UCWATCH_STREAMS_APP_ID": settings.streams.app_id, "UCWATCH_STREAMS_STORE": settings.streams.store,
                "UCWATCH_STREAMS_POLICY": settings.streams.policy})
    for f in dataclasses.fields(TopicsSettings):
        topic: TopicSettings = getattr(settings.topics, f.name)
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = topic.name
    return env
