"""The threads that make attempts, so that a slow receiver does not hold up the others.

Daemon threads: at shutdown an attempt still waiting on a receiver is abandoned (its
notice is not committed and is delivered again, with the same key, after the restart)
instead of holding the process past its stop. A sender that raises is a bug: the
attempt counts as failed, with the error class as its detail, and the traceback is
logged once per endpoint and error class.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ucwatch.notify.coordinator import Delivery
from ucwatch.notify.delivery import AttemptResult
from ucwatch.notify.endpoints import Sender

log = logging.getLogger("ucwatch.notify")


@dataclass(frozen=True)
class Attempted:
    delivery: Delivery
    result: AttemptResult
    started_ms: int
    ended_ms: int


class SenderPool:
    def __init__(self, senders: Mapping[str, Sender], threads: int,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._senders = senders
        self._clock_ms = clock_ms
        self._todo: queue.Queue[Delivery | None] = queue.Queue()
        self._done: queue.Queue[Attempted] = queue.Queue()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()
        self._threads = [threading.Thread(target=self._work, name=f"ucwatch-notify-sender-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, delivery: Delivery) -> None:
        with self._lock:
            self._in_flight += 1
        self._todo.put(delivery)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def results(self, wait_s: float = 0.0) -> list[Attempted]:
        """What finished since the last call; waits up to `wait_s` for the first one."""
        finished: list[Attempted] = []
        try:
            finished.append(self._done.get(timeout=wait_s) if wait_s > 0 else self._done.get_nowait())
            while True:
                finished.append(self._done.get_nowait())
        except queue.Empty:
            pass
        return finished

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)

    def _work(self) -> None:
        while (delivery := self._todo.get()) is not None:
            sender = self._senders[delivery.endpoint.name]
            started = self._clock_ms()
            try:
                result = sender.send(delivery.notice.record, delivery.attempts + 1)
            except Exception as exc:
                result = AttemptResult.retry(f"internal error: {type(exc).__name__}")
                key = (delivery.endpoint.name, type(exc).__name__)
                if key not in self._reported:
                    self._reported.add(key)
                    log.exception("%s: the sender failed unexpectedly (counted as a failed attempt)", key[0])
            self._done.put(Attempted(delivery, result, started, self._clock_ms()))
            with self._lock:
                self._in_flight -= 1
