"""The one back-off loop of ucwatch: call again after a retriable failure, then give up clearly.

    admin = retry(connect, retry_on=lambda exc: isinstance(exc, KafkaException),
                  backoff=Backoff(first_s=0.5, max_s=5.0), deadline_s=30, on_retry=log_it)

`retry` raises `RetryExhausted` (with the number of attempts and the last failure as its
cause) when the deadline or the attempt budget runs out, or when `stop` is set while it
waits; a failure that `retry_on` does not accept is raised at once, unchanged.
`poll_until` is its sibling for conditions rather than failures (a new topic's metadata).
Sleep and clock are parameters so the tests run in no time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ucwatch.core.errors import UcwatchError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.0
    """A fraction: each delay is drawn from [delay * (1 - jitter), delay]."""

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        delay = self.first_s
        while True:
            spread = delay * self.jitter * (rng or random).random() if self.jitter else 0.0
            yield delay - spread
            delay = min(delay * self.factor, self.max_s)


class RetryExhausted(UcwatchError):
    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


def retry(call: Callable[[], T], *, retry_on: Callable[[BaseException], bool],
          backoff: Backoff = Backoff(), deadline_s: float | None = None, attempts: int | None = None,
          stop: threading.Event | None = None,
          on_retry: Callable[[int, BaseException, float], None] | None = None,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> T:
    """`call()` until it returns; `on_retry(attempt, failure, delay)` before each wait."""
    deadline = None if deadline_s is None else clock() + deadline_s
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if not retry_on(exc):
                raise
            delay = next(delays)
            if deadline is not None:
                delay = min(delay, deadline - clock())
            if (attempts is not None and attempt >= attempts) or delay <= 0 or (stop and stop.is_set()):
                raise RetryExhausted(attempt, exc) from exc
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            if stop is not None:
                if stop.wait(delay):
                    raise RetryExhausted(attempt, exc) from exc
            else:
                sleep(delay)


def poll_until(fetch: Callable[[], T], done: Callable[[T], bool], *, timeout_s: float,
               interval_s: float = 0.1, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """`fetch()` until `done` says its value will do or the time is up; the last value either way."""
    deadline = clock() + timeout_s
    while True:
        value = fetch()
        if done(value) or clock() >= deadline:
            return value
        sleep(interval_s)
