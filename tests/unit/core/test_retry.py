"""The one back-off loop: retries what it is told to, gives up clearly, stops when asked."""

from __future__ import annotations

import threading

import pytest

from ucwatch.core.retry import Backoff, RetryExhausted, poll_until, retry


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def failing(times: int, error: Exception | None = None):
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error or ConnectionError("refused")
        return "ok"
    return call, calls


def test_backoff_doubles_up_to_its_ceiling() -> None:
    delays = Backoff(first_s=0.5, max_s=3.0).delays()
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_only_shortens_a_delay() -> None:
    delays = Backoff(first_s=1.0, max_s=1.0, jitter=0.5).delays()
    drawn = [next(delays) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in drawn) and len(set(drawn)) > 100


def test_retries_until_the_call_succeeds() -> None:
    time = FakeTime()
    call, calls = failing(3)
    seen: list[int] = []
    result = retry(call, retry_on=lambda e: isinstance(e, ConnectionError), sleep=time.sleep, clock=time.clock,
                   on_retry=lambda attempt, exc, delay: seen.append(attempt))
    assert result == "ok" and calls["n"] == 4 and seen == [1, 2, 3] and time.slept == [0.5, 1.0, 2.0]


def test_a_failure_it_is_not_told_to_retry_is_raised_at_once() -> None:
    call, calls = failing(1, ValueError("bad"))
    with pytest.raises(ValueError):
        retry(call, retry_on=lambda e: isinstance(e, ConnectionError), sleep=lambda s: None)
    assert calls["n"] == 1


def test_gives_up_at_the_deadline_with_attempts_and_cause() -> None:
    time = FakeTime()
    call, _ = failing(100)
    with pytest.raises(RetryExhausted) as raised:
        retry(call, retry_on=lambda e: True, deadline_s=4.0, sleep=time.sleep, clock=time.clock)
    assert raised.value.attempts == 5 and isinstance(raised.value.last, ConnectionError)
    assert raised.value.__cause__ is raised.value.last and sum(time.slept) == pytest.approx(4.0)


def test_gives_up_after_its_attempt_budget() -> None:
    call, calls = failing(100)
    with pytest.raises(RetryExhausted):
        retry(call, retry_on=lambda e: True, attempts=3, sleep=lambda s: None)
    assert calls["n"] == 3


def test_a_stop_event_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    call, calls = failing(100)
    with pytest.raises(RetryExhausted):
        retry(call, retry_on=lambda e: True, stop=stop)
    assert calls["n"] == 1


def test_poll_until_returns_the_first_good_value_or_the_last_one() -> None:
    time = FakeTime()
    values = iter(range(10))
    assert poll_until(lambda: next(values), lambda v: v >= 3, timeout_s=10, sleep=time.sleep,
                      clock=time.clock) == 3
    counter = iter(range(100))
    assert poll_until(lambda: next(counter), lambda v: False, timeout_s=1.0, interval_s=0.25,
                      sleep=time.sleep, clock=time.clock) == 4
