"""The query service when a client goes away before its answer: one debug line, no traceback,
and the service goes on answering. On the real embedded engine (chDB)."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from collections.abc import Iterator

import httpx
import pytest

from ucwatch.analysts.query_service import QueryService
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate

BIG = "SELECT number, toString(number) AS s FROM system.numbers LIMIT 2000000"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryService]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("query-server") / "data")
    writer = connect(settings, "writer", database="")
    try:
        migrate(writer, settings)
        with QueryService(settings) as running:
            yield running
    finally:
        writer.close()


def abandon(service: QueryService, query: str) -> None:
    """Sends a query and resets the connection without reading the answer."""
    body = json.dumps({"query": query, "format": "csv"}).encode()
    head = (f"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {service.endpoint.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", service.endpoint.port)) as client:
        client.sendall(head + body)
        client.recv(1)  # the answer has begun
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST


def test_a_client_that_goes_away_costs_one_debug_line(service: QueryService, capfd: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "ucwatch.query_service"):
        served = service.served
        abandon(service, BIG)
        deadline = time.monotonic() + 30
        while not any("went away" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the service did not notice the client going away"
            time.sleep(0.05)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err, err
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.DEBUG
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert service.served == served + 1
    with httpx.Client(trust_env=False, timeout=30) as http:
        answer = http.post(service.endpoint.url, json={"query": "SELECT 1 AS x", "format": "csv"},
                           headers={"Authorization": f"Bearer {service.endpoint.token}"})
    assert (answer.status_code, answer.text) == (200, '"x"\n1\n')

