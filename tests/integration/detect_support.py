"""Running detection workers as real processes in tests, waiting for them, and a broker of
a test's own (fresh, or to stop and start again)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.conftest import settings_env
from tests.helpers import read_topic
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.progress import wait_until_caught_up
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder

DECODER = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())


def worker_log(settings: Settings, log_dir: Path, name: str = "w0") -> Path:
    return log_dir / f"worker-{settings.streams.app_id}-{name}.log"


def start_worker(settings: Settings, log_dir: Path, name: str = "w0") -> subprocess.Popen:
    with worker_log(settings, log_dir, name).open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker", "--name", name],
                                env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen, kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_processed(settings: Settings, process: subprocess.Popen, timeout_s: float = 240) -> None:
    wait_until_caught_up(settings, timeout_s, alive=lambda: process.poll() is None)


def processed_under_supervision(settings: Settings, process: subprocess.Popen, log_dir: Path,
                                timeout_s: float = 240, restarts: int = 2) -> subprocess.Popen:
    """wait_until_processed, restarting the worker as `ucwatch run` would when it leaves
    with UNDELIVERED (a batch it could not write, or a partition faust stopped committing:
    streams/commit_watch.py); any other exit fails. Returns the worker now running."""
    for _ in range(restarts + 1):
        try:
            wait_until_processed(settings, process, timeout_s)
            return process
        except RuntimeError:
            if process.wait() != ExitCode.UNDELIVERED:
                raise
            process = start_worker(settings, log_dir)
    raise RuntimeError(f"the detection worker left with UNDELIVERED {restarts + 1} times")


def where_each_partition_stands(settings: Settings) -> object:
    """(committed, end) per lifecycle partition of the workers' group, as the broker says."""
    topic = settings.topics.lifecycle
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": settings.streams.app_id,
                         "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic.name, p) for p in range(topic.partitions)], 10)
        return {tp.partition: (tp.offset, consumer.get_watermark_offsets(tp, 10)[1]) for tp in committed}
    except KafkaException as unknown:
        return f"unknown ({unknown})"
    finally:
        consumer.close()


def explained(failure: Exception, settings: Settings, logs: list[Path], tail_chars: int = 4000) -> AssertionError:
    """`failure` with where each partition stands and the end of each worker's log: a stall
    in CI must leave what it takes to understand it."""
    tails = "".join(f"\n--- {log.name}:\n{log.read_text(errors='replace')[-tail_chars:]}"
                    for log in logs if log.exists())
    return AssertionError(f"{failure}; (committed, end) per lifecycle partition: "
                          f"{where_each_partition_stands(settings)}{tails}")


class SupervisedWorkers:
    """Named workers of one group, kept as `ucwatch run` keeps them: one that leaves with
    UNDELIVERED (a batch it could not write, a commit gap or a stall it detected) is started
    again and the restart counted; any other exit is a failure."""

    def __init__(self, settings: Settings, log_dir: Path, names: list[str]) -> None:
        self.settings, self.log_dir = settings, log_dir
        self.processes = {name: start_worker(settings, log_dir, name) for name in names}
        self.restarts: list[tuple[str, int]] = []

    def alive(self) -> bool:
        for name, process in self.processes.items():
            code = process.poll()
            if code is None:
                continue
            if code != ExitCode.UNDELIVERED:
                return False
            self.restarts.append((name, code))
            self.processes[name] = start_worker(self.settings, self.log_dir, name)
        return True

    def kill(self, name: str) -> None:
        """SIGKILLs `name` and starts it again, as a supervisor would."""
        stop_worker(self.processes[name], kill=True)
        self.processes[name] = start_worker(self.settings, self.log_dir, name)

    def wait_until_caught_up(self, timeout_s: float) -> None:
        try:
            wait_until_caught_up(self.settings, timeout_s, alive=self.alive)
        except (TimeoutError, RuntimeError) as failure:
            raise explained(failure, self.settings, self.logs()) from None
        time.sleep(2.0)  # what was sent before the last commit reaches the output topics

    def logs(self) -> list[Path]:
        return [worker_log(self.settings, self.log_dir, name) for name in self.processes]

    def stop(self) -> None:
        for process in self.processes.values():
            stop_worker(process)


def alert_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.alerts.name)]


def notification_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value)
            for r in read_topic(settings.kafka.bootstrap, settings.topics.notifications.name)]
