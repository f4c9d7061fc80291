"""Running detection: `ucwatch run` starts worker processes and, while live, a ticker.

Each worker is one faust worker process with its own state folder; workers of the same
app id share the lifecycle partitions and move tables on rebalance. The ticker writes a
clock tick to every partition every `tick_every_s` seconds of wall-clock time, so that
deadlines fire on quiet partitions; leave it off when replaying a history (then advance
time with `ucwatch tick --at`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import faust

from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.streams.app import build_app
from ucwatch.streams.policy import Policy
from ucwatch.streams.policy_parser import default_policy, load_policy
from ucwatch.streams.ticks import Ticker

log = logging.getLogger(__name__)


def load_policy(settings: Settings) -> Policy:
    return load_policy(Path(settings.streams.policy)) if settings.streams.policy else default_policy()


def run_worker(settings: Settings, name: str) -> int:
    """One faust worker in this process, until SIGTERM or SIGINT."""
    app = build_app(settings, load_policy(settings), worker_name=name)
    # faust and aiokafka log every send at DEBUG; set their levels so the records are not
    # even built (that alone took a tenth of a worker's time).
    for noisy in ("faust", "aiokafka", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.spinner = None  # it writes terminal escape codes into log files
    worker.execute_from_commandline()
    return 0


def run(settings: Settings, *, workers: int, tick_every_s: float | None, config: str | None,
        sink: bool = False) -> int:
    """Starts the workers (as processes sharing this process's settings), the ticker and,
    with `sink`, the ClickHouse sink (`ucwatch sink`)."""
    load_policy(settings)  # refuse a bad policy before anything starts
    ensure_topics(wait_for_kafka(settings), settings)
    command = [sys.executable, "-m", "ucwatch.app.cli"] + (["--config", config] if config else []) + ["worker"]
    processes = [subprocess.Popen(command + ["--name", f"w{i}"], env=worker_environment(settings))
                 for i in range(workers)]
    if sink:
        processes.append(subprocess.Popen(command[:-1] + ["sink"], env=worker_environment(settings)))
    stop = threading.Event()
    ticker = None
    if tick_every_s:
        ticker = threading.Thread(target=_tick_live, args=(settings, tick_every_s, stop), daemon=True)
        ticker.start()

    def terminate(signum: int, frame: object) -> None:
        stop.set()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    codes = [process.wait() for process in processes]
    stop.set()
    return max(codes, default=0)


def worker_environment(settings: Settings) -> dict[str, str]:
    """This process's environment plus the settings that command-line flags changed."""
    return {**os.environ, "UCWATCH_STREAMS_STORE": settings.streams.store,
            "UCWATCH_STREAMS_POLICY": settings.streams.policy}


def _tick_live(settings: Settings, every_s: float, stop: threading.Event) -> None:
    ticker = Ticker(settings, issued_by="ticker")
    try:
        while not stop.wait(every_s):
            try:
                ticker.tick(int(time.time() * 1000))
            except Exception:  # a failed tick is retried at the next interval
                log.exception("writing a clock tick failed")
    finally:
        ticker.close()



