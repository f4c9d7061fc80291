"""The commit order against crashes, on a model of Kafka and of a flaky receiver.

Each run feeds notices to a coordinator, lets a receiver fail about half the attempts
(before or after doing the work), acknowledges writes in random amounts, commits now and
then, and kills the process at a random point: writes not acknowledged are lost or
stored without their acknowledgement, attempts under way are lost after the receiver
may have acted. A new coordinator then starts as the notifier does: from the committed
offset, reading the log from the start stored with it. After the last crash it runs to
the end. Then:

- every notice is committed, and every (notice, endpoint) has exactly one final record;
- a DELIVERED notice reached the receiver; a GAVE_UP one has its dead letter and alert
  stored before its GAVE_UP record; repeated alerts are identical;
- no attempt was ever made for a (notice, endpoint) whose final record the broker held.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.unit.notify.doubles import (
    HHS_HOOK,
    HHS_MAIL,
    ICE_HOOK,
    Clock,
    CountingObserver,
    FakeKafka,
    FakeOutbox,
    budget,
    notice,
    source,
)
from ucwatch.notify.coordinator import Coordinator, Delivery
from ucwatch.notify.delivery import AttemptResult, Outcome
from ucwatch.notify.offsets import log_start_from_metadata

ENDPOINTS = {"HHS": [HHS_HOOK, HHS_MAIL], "ICE": [ICE_HOOK]}


class FlakyReceiver:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.processed: set[tuple[str, str]] = set()
        self.attempts: Counter[tuple[str, str]] = Counter()

    def attempt(self, delivery: Delivery) -> AttemptResult:
        key = (delivery.notice.notice_id, delivery.endpoint.name)
        self.attempts[key] += 1
        roll = self._rng.random()
        if roll < 0.25:
            return AttemptResult.retry("HTTP 500", 500)
        self.processed.add(key)
        if roll < 0.5:
            return AttemptResult.retry("HTTP 500 after the work was done", 500)
        return AttemptResult.ok(200)


def _final_stored(kafka: FakeKafka, key: tuple[str, str]) -> bool:
    return any(e.outcome.final and (e.notification_id, e.endpoint) == key for e in kafka.log)


def _start_due(coord: Coordinator, kafka: FakeKafka, receiver: FlakyReceiver,
               violations: list[str]) -> list[tuple[Delivery, AttemptResult]]:
    started = []
    for delivery in coord.due():
        key = (delivery.notice.notice_id, delivery.endpoint.name)
        if _final_stored(kafka, key):
            violations.append(f"attempt for {key} after its final record was stored")
        started.append((delivery, receiver.attempt(delivery)))
    return started


def run_model(seed: int, notices: int = 30, crashes: int = 4) -> tuple[FakeKafka, FlakyReceiver, int, list[str]]:
    rng = random.Random(seed)
    kafka, clock, receiver = FakeKafka(), Clock(), FlakyReceiver(rng)
    topic = [notice(i, rng.choice(["HHS", "ICE"])) for i in range(notices)]
    committed: tuple[int, str | None] = (0, None)
    violations: list[str] = []
    for incarnation in range(crashes + 1):
        last = incarnation == crashes
        outbox = FakeOutbox(kafka)
        coord = Coordinator(ENDPOINTS, budget(attempts=4, first_s=1.0, max_s=4.0), outbox, CountingObserver(),
                            clock_ms=clock, rng=random.Random(seed))
        offset, metadata = committed
        start = log_start_from_metadata(metadata) or 0
        coord.assign(0, offset, len(kafka.log), list(enumerate(kafka.log))[start:])
        position, in_flight = offset, []
        for _ in range(100_000 if last else rng.randint(3, 60)):
            for _ in range(min(rng.randint(0, 3), len(topic) - position)):
                coord.take(source(position), topic[position])
                position += 1
            in_flight += _start_due(coord, kafka, receiver, violations)
            rng.shuffle(in_flight)
            ended = rng.randint(0, len(in_flight))
            for delivery, result in in_flight[:ended]:
                coord.attempted(delivery, result, clock(), clock())
            in_flight = in_flight[ended:]
            for name, queue in outbox.queues.items():
                if rng.random() < 0.3:
                    outbox.ack(name, rng.randint(0, len(queue)))
            if rng.random() < 0.5:
                for partition, (point, meta) in coord.to_commit().items():
                    committed = (point, meta)
                    coord.committed(partition, point)
            clock.advance(rng.uniform(0, 2))
            if last and committed[0] == len(topic):
                break
        if not last:
            outbox.crash({name: rng.randint(0, len(queue)) for name, queue in outbox.queues.items()})
    return kafka, receiver, committed[0], violations


@pytest.mark.parametrize("seed", range(150))
def test_no_notice_lost_none_sent_again_after_its_final_record(seed: int) -> None:
    notices = 30
    kafka, receiver, committed, violations = run_model(seed, notices)
    assert committed == notices
    assert violations == []
    finals = Counter((e.notification_id, e.endpoint) for e in kafka.log if e.outcome.final)
    expected = {(notice(i)["notification_id"], endpoint.name)
                for i in range(notices) for endpoint in ENDPOINTS[_recipient(kafka, i)]}
    assert set(finals) == expected
    assert all(count == 1 for count in finals.values()), finals
    order = [(topic, item) for topic, item in kafka.order]
    for position, (topic, item) in enumerate(order):
        if topic != "log" or not item.outcome.final:
            continue
        key = (item.notification_id, item.endpoint)
        if item.outcome is Outcome.DELIVERED:
            assert key in receiver.processed
        else:
            before = order[:position]
            assert any(t == "dlq" and f"notice {key[0]} " in letter.reason and key[1] in letter.reason
                       for t, letter in before if t == "dlq")
            assert any(t == "alerts" and alert["start_event_id"] == key[0] and key[1] in alert["reason"]
                       for t, alert in before if t == "alerts")
    by_id: dict[str, dict] = {}
    for alert in kafka.alerts:
        assert by_id.setdefault(alert["alert_id"], alert) == alert


def _recipient(kafka: FakeKafka, index: int) -> str:
    wanted = notice(index)["notification_id"]
    return next(e.recipient for e in kafka.log if e.notification_id == wanted)


def test_the_model_exercises_crashes_retries_and_give_ups() -> None:
    """The property above is only worth something if the runs contain what it is about."""
    gave_up = delivered = repeated = 0
    for seed in range(150):
        kafka, receiver, _, _ = run_model(seed)
        gave_up += sum(e.outcome is Outcome.GAVE_UP for e in kafka.log)
        delivered += sum(e.outcome is Outcome.DELIVERED for e in kafka.log)
        repeated += sum(1 for key, n in receiver.attempts.items() if n > 1 and key in receiver.processed)
    assert gave_up > 50 and delivered > 3000 and repeated > 500
