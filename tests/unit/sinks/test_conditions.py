"""One log line per condition (sinks/conditions.py), and librdkafka's repeats filtered."""

from __future__ import annotations

import logging

import pytest

from ucwatch.sinks.clients import Repeats
from ucwatch.sinks.conditions import Condition


def test_a_condition_is_logged_when_it_begins_and_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    condition = Condition("ClickHouse", logging.getLogger("test.condition"), remind_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "test.condition"):
        for _ in range(500):
            condition.failing("ClickHouse cannot be reached (refused)", "retrying")
            now[0] += 0.1
        condition.cleared()
        condition.cleared()
    assert [r.getMessage() for r in caplog.records] == [
        "ClickHouse cannot be reached (refused); retrying",
        "ClickHouse: back after 50.0 s (500 failures)"]


def test_a_long_condition_is_recalled(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    condition = Condition("Kafka", logging.getLogger("test.condition"), remind_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "test.condition"):
        for _ in range(130):
            condition.failing("Kafka: all brokers down")
            now[0] += 1.0
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka: all brokers down",
        "Kafka: still failing after 60 s (61 failures): Kafka: all brokers down",
        "Kafka: still failing after 120 s (121 failures): Kafka: all brokers down"]


def test_librdkafka_repeats_pass_once_a_window() -> None:
    now = [0.0]
    repeats = Repeats(window_s=60, clock=lambda: now[0])

    def passes(message: str) -> bool:
        return repeats.filter(logging.LogRecord("k", logging.ERROR, "", 0, message, None, None))

    assert passes("FAIL 127.0.0.1:9092: Connect failed (after 0ms in state CONNECT)")
    assert not passes("FAIL 127.0.0.1:9092: Connect failed (after 3ms in state CONNECT)")
    assert passes("SESSTMOUT session timed out")
    now[0] += 61
    assert passes("FAIL 127.0.0.1:9092: Connect failed (after 0ms in state CONNECT)")
