"""Running detection workers as real processes in tests, waiting for them, and a broker of
a test's own (fresh, or to stop and start again)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

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


def alert_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.alerts.name)]


def notification_records(settings: Settings) -> list[dict]:
    return [DECODER.decode(r.value)
            for r in read_topic(settings.kafka.bootstrap, settings.topics.notifications.name)]
