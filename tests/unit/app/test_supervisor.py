"""The supervisor of `ucwatch run`, with real short-lived processes: restarts with back-off,
a budget that a healthy run resets, give-up, and a stop that ends even a stubborn child."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from ucwatch.app.supervisor import ChildSpec, Supervisor, describe
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.retry import Backoff

QUICK = Backoff(first_s=0.2, max_s=5.0)


def child(name: str, code: str, *args: object) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code, *(str(a) for a in args)])


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Running:
    """A supervisor run in a thread, stopped (if still running) at the end."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.stop = threading.Event()
        self.status: ExitCode | None = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        self.status = self.supervisor.run(self.stop)

    def finish(self, timeout_s: float = 30.0) -> ExitCode | None:
        self.stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive()
        return self.status


def test_a_child_that_keeps_failing_is_restarted_with_growing_delays_then_given_up(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    crash = "import sys, time; open(sys.argv[1], 'a').write(f'{time.monotonic()}\\n'); sys.exit(77)"
    supervisor = Supervisor([child("crasher", crash, starts)], backoff=QUICK, max_restarts=2, healthy_s=60,
                            poll_s=0.02)
    status = supervisor.run(threading.Event())
    assert status == ExitCode.SUPERVISED_FAILED
    assert supervisor.restarts("crasher") == ["exited with status 77"] * 3
    times = [float(t) for t in lines(starts)]
    assert len(times) == 3, "started once, restarted twice, then given up"
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, f"back-off 0.2 s then 0.4 s: {gaps}"


def test_a_killed_child_is_restarted_and_a_clean_stop_exits_ok(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sleeper = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(120)"
    running = Running(Supervisor([child("worker w0", sleeper, pids)], backoff=QUICK, poll_s=0.02))
    try:
        wait_for(lambda: len(lines(pids)) == 1)
        os.kill(int(lines(pids)[0]), signal.SIGKILL)
        wait_for(lambda: len(lines(pids)) == 2)
    finally:
        status = running.finish()
    assert running.supervisor.restarts("worker w0") == ["was killed by SIGKILL"]
    assert status == ExitCode.SUPERVISED_FAILED, "a death during the run shows in the status, though restarted"


def test_a_healthy_run_resets_the_budget(tmp_path: Path) -> None:
    """Three deaths, each after a healthy run, with a budget of one restart in a row."""
    runs = tmp_path / "runs"
    flaky = ("import sys, time; open(sys.argv[1], 'a').write('run\\n'); "
             "n = len(open(sys.argv[1]).read().split()); time.sleep(0.6 if n <= 3 else 120); sys.exit(77)")
    running = Running(Supervisor([child("flaky", flaky, runs)], backoff=QUICK, max_restarts=1, healthy_s=0.3,
                                 poll_s=0.02))
    try:
        wait_for(lambda: len(lines(runs)) == 4)
        time.sleep(0.3)
    finally:
        status = running.finish()
    assert running.supervisor.restarts("flaky") == ["exited with status 77"] * 3
    assert status == ExitCode.SUPERVISED_FAILED


def test_a_child_that_exits_0_on_its_own_is_restarted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    quits = ("import sys, time; open(sys.argv[1], 'a').write('run\\n'); "
             "sys.exit(0) if len(open(sys.argv[1]).read().split()) == 1 else time.sleep(120)")
    running = Running(Supervisor([child("sink", quits, runs)], backoff=QUICK, poll_s=0.02))
    try:
        wait_for(lambda: len(lines(runs)) == 2)
    finally:
        status = running.finish()
    assert running.supervisor.restarts("sink") == ["exited with status 0 (OK) without being asked to stop"]
    assert status == ExitCode.SUPERVISED_FAILED


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period_and_the_status_says_so(
        tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "open(sys.argv[1], 'w').write('x'); time.sleep(120)")
    polite = "import time; time.sleep(120)"
    running = Running(Supervisor([child("stubborn", stubborn, ready), child("polite", polite)],
                                 stop_grace_s=0.5, poll_s=0.02))
    wait_for(ready.exists)
    started = time.monotonic()
    status = running.finish()
    assert time.monotonic() - started < 5
    assert status == ExitCode.SUPERVISED_FAILED


def test_a_child_down_at_the_stop_makes_the_status_a_failure(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    crash = "import sys; open(sys.argv[1], 'a').write('x\\n'); sys.exit(4)"
    running = Running(Supervisor([child("crasher", crash, starts)], backoff=Backoff(first_s=60.0), poll_s=0.02))
    try:
        wait_for(lambda: running.supervisor.restarts("crasher"))
    finally:
        status = running.finish()
    assert status == ExitCode.SUPERVISED_FAILED, "it died and was waiting for its restart"


@pytest.mark.parametrize(("status", "text"), [
    (-9, "was killed by SIGKILL"),
    (-15, "was killed by SIGTERM"),
    (4, "exited with status 4 (UNDELIVERED)"),
    (77, "exited with status 77"),
    (0, "exited with status 0 (OK) without being asked to stop"),
])
def test_describe(status: int, text: str) -> None:
    assert describe(status) == text
