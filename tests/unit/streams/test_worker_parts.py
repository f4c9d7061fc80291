"""The worker's pure parts, without Kafka: one log line per condition, the readiness wait's
cadence, and the confirmation of a batch's sends."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from ucwatch.core.errors import UsageError
from ucwatch.core.settings import Settings
from ucwatch.streams.batch_producer import BatchProducer
from ucwatch.streams.log_limits import OncePerCondition
from ucwatch.streams.readiness import LOG_EVERY_S, _Waiting
from ucwatch.streams.worker import hold_worker_name


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_condition_passes_once_then_once_per_period_with_the_count_held_back() -> None:
    clock = Clock()
    limiter = OncePerCondition(every_s=30.0, clock=clock)
    passed = []
    for second in range(95):  # a connection refused ten times a second, to nodes 1 and 2
        clock.now = float(second)
        for tenth in range(10):
            line = record("aiokafka.conn", logging.ERROR, "Unable connect to node with id %s: %s", 1 + tenth % 2,
                          "Connect call failed")
            if limiter.filter(line):
                passed.append((second, line.getMessage()))
    assert [second for second, _ in passed] == [0, 30, 60, 90]
    assert passed[0][1] == "Unable connect to node with id 1: Connect call failed"
    assert passed[1][1].endswith("[and 299 more like it in the last 30 s]")


def test_conditions_are_counted_apart_and_ucwatch_lines_and_info_pass_untouched() -> None:
    limiter = OncePerCondition(every_s=30.0, clock=Clock())
    fetch = record("aiokafka.consumer.fetcher", logging.ERROR, "Failed fetch messages from %s: %s", 1, "gone")
    metadata = record("aiokafka.cluster", logging.ERROR, "Unable to update metadata from [%s]", 1)
    assert limiter.filter(fetch) and limiter.filter(metadata)
    assert not limiter.filter(fetch) and not limiter.filter(metadata)
    ours = record("ucwatch.streams.app", logging.ERROR, "dead-lettering %s", "t:1:2")
    assert limiter.filter(ours) and limiter.filter(ours)
    chatter = record("aiokafka.conn", logging.INFO, "connected")
    assert limiter.filter(chatter) and limiter.filter(chatter)
    other = record("aiokafkaesque", logging.ERROR, "not a library of the list")
    assert limiter.filter(other) and limiter.filter(other)


def test_the_readiness_wait_says_what_it_waits_for_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    stop = threading.Event()
    answers = iter([["t.alerts"]] * 70 + [KafkaException(KafkaError(KafkaError._TRANSPORT))] * 5 + [[]])

    def absent() -> list[str]:
        clock.now += 1.0  # each poll takes a second
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.WARNING, "ucwatch.streams.readiness"):
        assert _Waiting("127.0.0.1:1", stop, clock, poll_s=0).until(absent, "to exist")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(";")[0] for line in lines] == ["waiting for topic(s) t.alerts to exist"] * 3 + [
        "waiting for Kafka at 127.0.0.1:1 to answer (Local: Broker transport failure)", "ready after waiting 76 s"]
    assert [line.split("; ")[1] for line in lines[:4]] == ["1 s so far", "31 s so far", "61 s so far", "71 s so far"]
    assert LOG_EVERY_S == 30


def test_the_readiness_wait_ends_when_asked_to_stop() -> None:
    stop = threading.Event()
    stop.set()
    assert not _Waiting("127.0.0.1:1", stop, Clock(), poll_s=0).until(lambda: ["t.alerts"], "to exist")


def test_confirm_with_nothing_queued_returns_at_once_and_a_timeout_names_what_was_waited_for() -> None:
    producer = BatchProducer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0}, delivery_timeout_ms=60_000)

    async def scenario() -> None:
        assert await producer.confirm("state write(s)", 1.0) == {}
        producer.send("t.children-changelog", b"child", b"state", partition=0)
        with pytest.raises(TimeoutError, match="1 of 1 state write"):
            await producer.confirm("state write(s)", 0.2)

    asyncio.run(scenario())


def test_a_second_live_worker_of_the_same_name_and_folder_is_refused(tmp_path: Path) -> None:
    """It would share the first one's group instance id: the broker would give both the
    same partitions, in turns."""
    settings = Settings(data_dir=tmp_path)
    with hold_worker_name(settings, "w0"):
        with pytest.raises(UsageError, match=r"worker 'w0' of ucwatch-detect is already running .* another --name"):
            hold_worker_name(settings, "w0")
        with hold_worker_name(settings, "w1"):
            pass
    with hold_worker_name(settings, "w0"):  # released when the first one ended
        pass
