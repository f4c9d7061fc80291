"""In-memory doubles for the coordinator: an outbox whose writes are acknowledged only when
the test says so (per topic, in order, as a partition acknowledges), a manual clock and
an observer that counts."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ucwatch.core.retry import Backoff
from ucwatch.notify.budget import RetryBudget
from ucwatch.notify.coordinator import Coordinator
from ucwatch.notify.delivery import AttemptResult, Channel, Endpoint, LogEntry, Source

HHS_HOOK = Endpoint("hhs.webhook", "HHS", Channel.WEBHOOK)
HHS_MAIL = Endpoint("hhs.email", "HHS", Channel.EMAIL)
ICE_HOOK = Endpoint("ice.webhook", "ICE", Channel.WEBHOOK)
TOPIC = "ucwatch.notifications"


def notice(n: int, recipient: str = "HHS", kind: str = "FAILURE_TO_APPEAR") -> dict[str, Any]:
    return {"notification_id": f"N{n:04d}", "child_id": f"SYN-CH-{n:09d}", "recipient": recipient, "kind": kind,
            "fact_id": f"F{n}", "occurred_at": 1_600_000_000_000, "reason": "r", "synthetic": True}


def source(offset: int, partition: int = 0, timestamp_ms: int = 1_000) -> Source:
    return Source(TOPIC, partition, offset, timestamp_ms, b"SYN-CH-000000001", b"\x00raw")


@dataclass
class Clock:
    now_ms: int = 1_000_000

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


@dataclass
class FakeKafka:
    """What the broker holds, across notifier restarts."""
    log: list[LogEntry] = field(default_factory=list)
    dead_letters: list[Any] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    order: list[tuple[str, Any]] = field(default_factory=list)
    """Every stored write, in the order the broker stored it."""

    def store(self, topic: str, item: Any) -> int:
        self.order.append((topic, item))
        target: list[Any] = {"log": self.log, "dlq": self.dead_letters, "alerts": self.alerts}[topic]
        target.append(item)
        return len(target) - 1


class FakeOutbox:
    def __init__(self, kafka: FakeKafka | None = None) -> None:
        self.kafka = kafka or FakeKafka()
        self.queues: dict[str, deque[tuple[Any, Callable[..., None]]]] = {
            "log": deque(), "dlq": deque(), "alerts": deque()}

    def write_log(self, entry: LogEntry, acked: Callable[[int], None]) -> None:
        self.queues["log"].append((entry, acked))

    def write_dead_letter(self, letter: Any, acked: Callable[[], None]) -> None:
        self.queues["dlq"].append((letter, acked))

    def write_alert(self, record: dict[str, Any], acked: Callable[[], None]) -> None:
        self.queues["alerts"].append((record, acked))

    def waiting(self, topic: str | None = None) -> list[Any]:
        topics = [topic] if topic else list(self.queues)
        return [item for t in topics for item, _ in self.queues[t]]

    def ack(self, topic: str, count: int = 1) -> None:
        for _ in range(count):
            item, acked = self.queues[topic].popleft()
            offset = self.kafka.store(topic, item)
            if topic == "log":
                acked(offset)
            else:
                acked()

    def ack_all(self) -> None:
        while any(self.queues.values()):
            for topic in list(self.queues):
                if self.queues[topic]:
                    self.ack(topic, len(self.queues[topic]))

    def crash(self, stored: dict[str, int]) -> None:
        """The process dies: the first `stored[topic]` writes of each queue reached the
        broker without their acknowledgement coming back; the rest are lost."""
        for topic, queue in self.queues.items():
            for _ in range(min(stored.get(topic, 0), len(queue))):
                self.kafka.store(topic, queue.popleft()[0])
            queue.clear()


@dataclass
class CountingObserver:
    attempts: list[tuple[str, bool]] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    def attempted(self, endpoint: Endpoint, result: AttemptResult, duration_s: float, age_s: float) -> None:
        self.attempts.append((endpoint.name, result.delivered))

    def gave_up(self, endpoint: Endpoint, text: str) -> None:
        self.given_up.append(text)

    def skipped(self, endpoint: Endpoint) -> None:
        self.skips.append(endpoint.name)


def budget(attempts: int = 3, first_s: float = 1.0, max_s: float = 8.0) -> RetryBudget:
    return RetryBudget(Backoff(first_s=first_s, max_s=max_s, factor=2.0, jitter=0.0), attempts)


def coordinator(outbox: FakeOutbox, clock: Clock, endpoints: dict[str, list[Endpoint]] | None = None,
                attempts: int = 3, observer: CountingObserver | None = None) -> Coordinator:
    return Coordinator(endpoints if endpoints is not None else {"HHS": [HHS_HOOK]}, budget(attempts), outbox,
                       observer or CountingObserver(), clock_ms=clock)
