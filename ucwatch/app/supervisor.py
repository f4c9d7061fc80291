"""Supervising the processes of `ucwatch run`: restart one that dies, give up after a budget.

Each child is a command (a detection worker, the sink) run as a process. A child that
exits without being asked to (a crash, a SIGKILL from outside, a worker that stopped
itself rather than commit a batch it could not write, even a status of 0) is logged with
how it ended and started again after a back-off delay (`ucwatch.core.retry.Backoff`:
1 s, doubling, at most 30 s). A child that has run `healthy_s` since its last start gets
its count and delay reset. One that dies `max_restarts` + 1 times in a row without such
a run is given up: the others are stopped and the supervisor returns
`ExitCode.SUPERVISED_FAILED`.

On SIGTERM or SIGINT every child is sent SIGTERM and given `stop_grace_s` to exit; one
still running then is killed. The status is OK only if no child ended unexpectedly during
the run (even one restarted successfully: an operator's script must see that something
failed), none was given up, and each stopped cleanly when asked (0, 130, or killed by that
SIGTERM); otherwise SUPERVISED_FAILED, and the log says which child and how.

Children are polled, not waited on, so that one loop sees deaths, restarts and the stop.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType

from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.retry import Backoff

log = logging.getLogger(__name__)
RESTART_BACKOFF = Backoff(first_s=1.0, max_s=30.0)
CLEAN_STOP = {0, ExitCode.INTERRUPTED, -signal.SIGTERM}
"""Statuses of a child that stopped as it was asked to."""


@dataclass(frozen=True)
class ChildSpec:
    name: str
    command: Sequence[str]
    env: dict[str, str] | None = None


@dataclass
class _Child:
    spec: ChildSpec
    delays: Iterator[float]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0
    deaths: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(self, children: Sequence[ChildSpec], *, backoff: Backoff = RESTART_BACKOFF,
                 max_restarts: int = 5, healthy_s: float = 60.0, stop_grace_s: float = 15.0,
                 poll_s: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._backoff = backoff
        self._children = [_Child(spec, backoff.delays()) for spec in children]
        self._max_restarts = max_restarts
        self._healthy_s = healthy_s
        self._stop_grace_s = stop_grace_s
        self._poll_s = poll_s
        self._clock = clock

    def run(self, stop: threading.Event) -> ExitCode:
        """Runs the children until `stop` is set or one is given up; returns the exit status."""
        for child in self._children:
            self._start(child)
        given_up = None
        while given_up is None and not stop.wait(self._poll_s):
            for child in self._children:
                if not self._tend(child):
                    given_up = child
                    break
        clean = self._stop_all()
        deaths = ", ".join(f"{c.spec.name} {len(c.deaths)}" for c in self._children if c.deaths)
        died = any(c.deaths for c in self._children)
        status = ExitCode.OK if clean and given_up is None and not died else ExitCode.SUPERVISED_FAILED
        log.info("stopped (%s); unexpected ends: %s", status.name, deaths or "none")
        return status

    def restarts(self, name: str) -> list[str]:
        """How each death of child `name` ended, in order (for reports and tests)."""
        return next(list(c.deaths) for c in self._children if c.spec.name == name)

    def _tend(self, child: _Child) -> bool:
        """Restarts a dead child when its delay is over; False when it is given up."""
        now = self._clock()
        if child.process is None:
            if now >= child.restart_at:
                self._start(child)
            return True
        status = child.process.poll()
        if status is None:
            if child.failures and now - child.started_at >= self._healthy_s:
                self._reset(child)
            return True
        child.process = None
        ran_s = now - child.started_at
        if ran_s >= self._healthy_s:
            self._reset(child)
        ended = describe(status)
        child.deaths.append(ended)
        child.failures += 1
        if child.failures > self._max_restarts:
            log.error("%s %s after %.1f s; given up after %d restart(s) in a row (stopping everything)",
                      child.spec.name, ended, ran_s, self._max_restarts)
            return False
        delay = next(child.delays)
        child.restart_at = now + delay
        log.warning("%s %s after %.1f s; restarting it in %.1f s (restart %d of at most %d in a row)",
                    child.spec.name, ended, ran_s, delay, child.failures, self._max_restarts)
        return True

    def _reset(self, child: _Child) -> None:
        child.failures = 0
        child.delays = self._backoff.delays()

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(list(child.spec.command), env=child.spec.env)
        child.started_at = self._clock()
        log.info("started %s (pid %d)", child.spec.name, child.process.pid)

    def _stop_all(self) -> bool:
        """SIGTERM to every running child, SIGKILL to those left after the grace period;
        True if every child stopped cleanly and none was dead."""
        clean = True
        running = []
        for child in self._children:
            if child.process is None:
                log.error("%s was not running at the stop (its last end: %s)", child.spec.name,
                          child.deaths[-1] if child.deaths else "none")
                clean = False
            elif child.process.poll() is not None:
                log.error("%s %s before the stop", child.spec.name, describe(child.process.returncode))
                clean = False
            else:
                child.process.send_signal(signal.SIGTERM)
                running.append(child)
        deadline = self._clock() + self._stop_grace_s
        for child in running:
            process = child.process
            assert process is not None
            try:
                status = process.wait(timeout=max(0.0, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                log.error("%s did not stop within %.0f s of SIGTERM; killed", child.spec.name, self._stop_grace_s)
                clean = False
                continue
            if status not in CLEAN_STOP:
                log.error("%s %s when asked to stop", child.spec.name, describe(status))
                clean = False
        return clean


def describe(status: int) -> str:
    """How a process ended, as a person reads it."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    try:
        meaning = f" ({ExitCode(status).name})"
    except ValueError:
        meaning = ""
    suffix = " without being asked to stop" if status == 0 else ""
    return f"exited with status {status}{meaning}{suffix}"


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (the supervisor's own stop)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping the supervised processes", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
