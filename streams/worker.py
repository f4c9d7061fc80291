"""One detection worker process (`ucwatch worker`): ready, run, and stop when asked.

1. The policy is loaded first, so a bad one is refused before anything else.
2. The worker waits until its topics exist and have leaders (streams/readiness.py), with
   one log line every 30 s; faust would otherwise start blind to them.
3. faust runs the app (streams/app.py) under ucwatch's logging: the Kafka libraries'
   repeats are summarized (streams/log_limits.py), ucwatch's own lines are at INFO.
4. SIGTERM or SIGINT, in any of these states, stops the worker: before faust it returns
   at once; with faust it asks for a clean stop, and if that has not finished within
   `STOP_GRACE_S` (a send waiting on a broker that is down, say) it leaves anyway. Nothing
   is lost by that: what was not committed is handled again at the next start.

Several workers of the same app id share the lifecycle partitions (one consumer group);
`ucwatch run` starts and supervises them (ucwatch/app/supervisor.py).
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any

import faust
import uvloop

from ucwatch.core import native
from ucwatch.core.errors import UsageError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.settings import Settings
from ucwatch.streams.app import build_app, state_dir
from ucwatch.streams.log_limits import limit_library_logs
from ucwatch.streams.policy import Policy
from ucwatch.streams.policy_parser import default_policy, load_policy
from ucwatch.streams.readiness import wait_until_ready

log = logging.getLogger(__name__)
STOP_GRACE_S = 5.0
GC_THRESHOLD = 50_000
NOISY_LIBRARIES = ("faust", "aiokafka", "mode")


def policy_for(settings: Settings) -> Policy:
    """The policy file of the settings, else the shipped default policy."""
    return load_policy(Path(settings.streams.policy)) if settings.streams.policy else default_policy()


def worker_environment(settings: Settings) -> dict[str, str]:
    """This process's environment plus the settings that command-line flags changed."""
    return {**os.environ, "UCWATCH_STREAMS_STORE": settings.streams.store,
            "UCWATCH_STREAMS_POLICY": settings.streams.policy}


def run_worker(settings: Settings, name: str) -> int:
    """One faust worker in this process, until SIGTERM or SIGINT; returns the exit status."""
    policy = policy_for(settings)
    # Detection allocates many small tuples and dicts per record (histories, records), few
    # of them cyclic: at the default threshold (700) the cyclic collector took a fifth of
    # the worker's own CPU (bench/own_code.py: 143-146 µs per record, 115 µs with this).
    # Collections on a timer, freezing what survived, were tried and withdrawn: on a
    # national replay each took longer than the last (0.5 s, then 16.5 s by the fifth), and
    # one outlasted the group's session, so the group rebalanced (docs/detect.md).
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    with hold_worker_name(settings, name):
        _configure_logging()
        log.info("detection engine: %s", native.status())
        stopper = Stopper(STOP_GRACE_S)
        stopper.install()
        threading.excepthook = stopper.thread_failed
        if not wait_until_ready(settings, stopper.requested):
            log.info("stopped before starting")
            return ExitCode.OK
        # faust's own per-record machinery is mostly event-loop work: uvloop took it from
        # 113-114 to 97-98 µs of CPU per record (bench/faust_bare.py --loop, same topic)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        worker = _Worker(build_app(settings, policy, worker_name=name), stopper=stopper, quiet=True,
                         redirect_stdouts=False, override_logging=False)
        worker.spinner = None  # it writes terminal escape codes into log files
        stopper.worker = worker
        try:
            worker.execute_from_commandline()
        except SystemExit as done:
            return int(done.code or 0)


def hold_worker_name(settings: Settings, name: str) -> IO[bytes]:
    """Locks the worker's state folder for as long as the returned file stays open; refuses a
    second live worker of the same name and folder (it would share the first one's group
    instance id, and the broker would give both the same partitions)."""
    path = state_dir(settings, name) / "worker.lock"
    lock = path.open("a+b")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().decode(errors="replace").strip() or "another process"
        lock.close()
        raise UsageError(f"worker {name!r} of {settings.streams.app_id} is already running with state folder "
                         f"{path.parent} (pid {holder}); give this one another --name") from None
    lock.truncate(0)
    lock.write(str(os.getpid()).encode())
    lock.flush()
    return lock


def _configure_logging() -> None:
    # faust and aiokafka log every send at DEBUG; raising their levels means the records
    # are not even built (that alone took a tenth of a worker's time).
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("ucwatch.streams").setLevel(logging.INFO)
    limit_library_logs()


class Stopper:
    """SIGTERM and SIGINT, whatever the worker is doing: a clean stop, within a grace period."""

    def __init__(self, grace_s: float) -> None:
        self.requested = threading.Event()
        self.worker: _Worker | None = None
        self._grace_s = grace_s

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.begin(signum)
        worker = self.worker
        if worker is not None:  # faust is starting and its own handlers are not in place yet
            worker.loop.call_soon_threadsafe(worker.stop_on_signal)

    def thread_failed(self, failure: threading.ExceptHookArgs) -> None:
        """A thread of faust's cancelled while it stops (its consumer thread, waiting on a broker
        that is down) is one line, not a traceback; anything else is reported as usual."""
        if self.requested.is_set() and issubclass(failure.exc_type, asyncio.CancelledError):
            log.info("%s cancelled while stopping", failure.thread.name if failure.thread else "a thread")
            return
        threading.__excepthook__(failure)

    def begin(self, signum: int) -> None:
        """Notes the request (once) and arms the deadline after which the process leaves."""
        if self.requested.is_set():
            return
        self.requested.set()
        log.info("%s received: stopping (at most %.0f s)", signal.Signals(signum).name, self._grace_s)
        threading.Thread(target=self._leave_after_grace, name="stop-deadline", daemon=True).start()

    def _leave_after_grace(self) -> None:
        time.sleep(self._grace_s)
        log.warning("not stopped %.0f s after the signal (faust still waiting on Kafka); leaving now. "
                    "Records not yet committed are handled again at the next start", self._grace_s)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(ExitCode.OK)


class _Worker(faust.Worker):
    """faust's worker, with ucwatch's stop: the grace deadline armed on SIGTERM and SIGINT."""

    def __init__(self, *args: Any, stopper: Stopper, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopper = stopper

    def stop_on_signal(self) -> None:
        self._on_sigterm()

    def _on_sigterm(self) -> None:
        self._stopper.begin(signal.SIGTERM)
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._stopper.begin(signal.SIGINT)
        self._schedule_shutdown(signal.SIGINT)
