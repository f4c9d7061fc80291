"""core/health.py: the three endpoints over real HTTP, the heartbeat with an injected clock,
and a taken port."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from ucwatch.core.health import Heartbeat, serve_health


def test_live_ready_and_metrics_over_http() -> None:
    registry = CollectorRegistry()
    Counter("ucwatch_test_things", "things", registry=registry).inc(3)
    now = [100.0]
    heartbeat = Heartbeat(stall_s=30, clock=lambda: now[0])
    server = serve_health(registry, heartbeat.check, lambda: (False, "waiting for partitions"), 0, what="test")
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        ready = httpx.get(f"{server.url}/readyz")
        assert (ready.status_code, ready.text) == (503, "not ok: waiting for partitions\n")
        assert "ucwatch_test_things_total 3.0" in httpx.get(f"{server.url}/metrics").text
        now[0] += 31
        live = httpx.get(f"{server.url}/healthz")
        assert live.status_code == 503 and "31.0 s ago" in live.text
        heartbeat.beat()
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/other").status_code == 404
    finally:
        server.stop()


def test_a_taken_port_falls_back_to_a_free_one_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="ucwatch.health"):
            server = serve_health(CollectorRegistry(), lambda: (True, "ok"), lambda: (True, "ok"), port,
                                  what="worker w1")
        try:
            assert not server.url.endswith(f":{port}")
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            (record,) = caplog.records
            assert f"worker w1: port {port} is taken" in record.getMessage() and server.url in record.getMessage()
        finally:
            server.stop()
