"""Metrics and one log line per condition, however often an endpoint flaps."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import generate_latest

from tests.unit.notify.doubles import HHS_HOOK, ICE_HOOK
from ucwatch.notify.delivery import AttemptResult
from ucwatch.notify.metrics import NotifyMetrics
from ucwatch.notify.observe import QUIET_S, DeliveryObserver

OK, DOWN = AttemptResult.ok(200), AttemptResult.retry("HTTP 500 Internal Server Error", 500)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture, endpoint: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(endpoint)]


def test_an_outage_is_one_line_and_its_end_another(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ucwatch.notify")
    clock = Clock()
    observer = DeliveryObserver(NotifyMetrics(), "budget", clock=clock)
    for _ in range(50):
        observer.attempted(HHS_HOOK, DOWN, 0.01, 1.0)
        clock.now += 5
    observer.attempted(HHS_HOOK, OK, 0.01, 1.0)
    observer.attempted(ICE_HOOK, OK, 0.01, 1.0)
    lines = _lines(caplog, "hhs.webhook")
    assert len(lines) == 2
    assert lines[0].startswith("hhs.webhook: failing (HTTP 500 Internal Server Error); 1 failed attempt(s)")
    assert lines[1] == "hhs.webhook: delivering again, after 50 failed attempt(s)"
    assert _lines(caplog, "ice.webhook") == []


def test_a_flapping_endpoint_gives_at_most_two_lines_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ucwatch.notify")
    clock = Clock()
    observer = DeliveryObserver(NotifyMetrics(), "budget", clock=clock)
    for i in range(200):  # 100 s of flapping, ending with a failure
        observer.attempted(HHS_HOOK, DOWN if i % 2 == 0 else OK, 0.01, 1.0)
        clock.now += 0.5
        observer.tick()
    observer.attempted(HHS_HOOK, DOWN, 0.01, 1.0)
    lines = _lines(caplog, "hhs.webhook")
    assert [line.split(":")[1].split(",")[0].split(" (")[0].strip() for line in lines] == \
           ["failing", "delivering again", "failing", "delivering again"]
    clock.now += QUIET_S
    observer.tick()
    lines = _lines(caplog, "hhs.webhook")
    assert len(lines) == 5 and lines[-1].startswith("hhs.webhook: failing"), \
        "a failure held back is reported once it has lasted"
    observer.attempted(HHS_HOOK, OK, 0.01, 1.0)
    assert _lines(caplog, "hhs.webhook")[-1].startswith("hhs.webhook: delivering again"), "recovery at once"


def test_counters_by_recipient_and_channel() -> None:
    metrics = NotifyMetrics()
    observer = DeliveryObserver(metrics, "budget")
    observer.attempted(HHS_HOOK, DOWN, 0.2, 3.0)
    observer.attempted(HHS_HOOK, OK, 0.2, 3.0)
    observer.gave_up(ICE_HOOK, "x")
    observer.skipped(HHS_HOOK)
    text = generate_latest(metrics.registry).decode()
    assert 'ucwatch_notify_delivered_total{channel="webhook",recipient="HHS"} 1.0' in text
    assert 'ucwatch_notify_attempts_failed_total{channel="webhook",recipient="HHS"} 1.0' in text
    assert 'ucwatch_notify_undelivered_total{channel="webhook",recipient="ICE"} 1.0' in text
    assert 'ucwatch_notify_skipped_total{channel="webhook",recipient="HHS"} 1.0' in text
    assert 'ucwatch_notify_endpoint_up{endpoint="hhs.webhook"} 1.0' in text
    assert 'ucwatch_notify_delivery_latency_seconds_count{channel="webhook",recipient="HHS"} 1.0' in text
