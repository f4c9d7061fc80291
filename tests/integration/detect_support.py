"""Running detection workers as real processes in tests, and waiting for them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.catalog import default_catalog
from schemas.registry import EmbeddedRegistry
from schemas.serde import Decoder
from tests.conftest import settings_env
from tests.helpers import read_topic
from ucwatch.settings import Settings

DECODER = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())


def start_worker(settings: Settings, log_dir: Path, name: str = "w0") -> subprocess.Popen:
    with (log_dir / f"worker-{settings.streams.app_id}-{name}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ucwatch.cli", "worker", "--name", name],
                                env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen, kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def committed_everything(settings: Settings) -> bool:
    """Whether the workers' group has committed every record of the lifecycle topic."""
    topic = settings.topics.lifecycle.name
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": settings.streams.app_id,
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topics.lifecycle.partitions)]
        try:
            committed = consumer.committed(partitions, timeout=10)
        except KafkaException:  # the group coordinator is still moving: not yet
            return False
        for position in committed:
            high = consumer.get_watermark_offsets(position, timeout=10)[1]
            if high and position.offset < high:
                return False
        return True
    finally:
        consumer.close()


def wait_until_processed(settings: Settings, process: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not committed_everything(settings):
        assert process.poll() is None, f"the worker exited with {process.returncode}"
        assert time.monotonic() < deadline, "the worker did not process the lifecycle topic in time"
        time.sleep(1.0)
    time.sleep(2.0)  # sends handed to the producer before the commit reach the topic


def alert_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.alerts.name)]


def notification_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value)
            for r in read_topic(settings.kafka.bootstrap, settings.topics.notifications.name)]
