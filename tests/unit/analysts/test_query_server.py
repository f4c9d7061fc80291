"""The query service on the real embedded engine (chDB): who asked (the kernel's word),
the audit written by the service before the query runs, the limits, the busy answer, and
queries that stop when their client goes away."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from ucwatch.analysts.query_client import ask
from ucwatch.analysts.query_service import QueryService, read_endpoint
from ucwatch.analysts.sql import run_sql
from ucwatch.core.errors import AuditNotWritten
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable
from ucwatch.sinks.migrate import migrate

REPO = Path(__file__).resolve().parents[3]
BIG = "SELECT number, toString(number) AS s FROM system.numbers LIMIT 900000"
SLOW = "SELECT sum(cityHash64(number)) FROM numbers(100000000000000)"


@dataclasses.dataclass
class Store:
    settings: Settings
    writer: Client

    def running(self, fragment: str) -> int:
        """How many queries whose text holds `fragment` the engine is running."""
        found = self.writer.query("SELECT count() FROM system.processes WHERE position(query, {f:String}) > 0 "
                                  "AND position(query, 'system.processes') = 0", parameters={"f": fragment})
        return int(found.result_rows[0][0])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("query-server") / "data")
    writer = connect(settings, "writer", database="")
    try:
        migrate(writer, settings)
        yield Store(settings, writer)
    finally:
        writer.close()


@pytest.fixture
def audited() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def service(store: Store, audited: list[dict[str, Any]]) -> Iterator[QueryService]:
    with QueryService(store.settings, audit=audited.append) as running:
        yield running


def limited(settings: Settings, **limits: int) -> Settings:
    return dataclasses.replace(settings, clickhouse=dataclasses.replace(settings.clickhouse, **limits))


def post_raw(service: QueryService, query: str) -> socket.socket:
    """Sends a query over the socket, as any program could, and returns the open connection."""
    body = json.dumps({"query": query, "format": "csv"}).encode()
    head = (f"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    client = socket.socket(socket.AF_UNIX)
    client.connect(service.endpoint.socket)
    client.sendall(head + body)
    return client


def wait_for(condition: Any, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, what
        time.sleep(0.05)
    return time.monotonic() - start


# --- the socket and who asked -------------------------------------------------------------

def test_the_socket_is_beside_the_store_0660_and_removed_on_stop(store: Store) -> None:
    with QueryService(store.settings, audit=lambda entry: None) as service:
        path = Path(service.endpoint.socket)
        assert path == store.settings.data_dir.resolve() / "clickhouse.query.sock"
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
        assert read_endpoint(store.settings) == service.endpoint
    assert not path.exists() and read_endpoint(store.settings) is None


def test_a_query_sent_straight_to_the_service_is_audited_with_the_kernels_user(
        service: QueryService, audited: list[dict[str, Any]]) -> None:
    """No token, no client-side audit to skip: the service writes the entry itself."""
    client = post_raw(service, "SELECT 42 AS x")
    try:
        answer = client.makefile("rb").read()
    finally:
        client.close()
    assert answer.endswith(b'"x"\n42\n')
    assert len(audited) == 1
    entry = audited[0]
    assert entry["action"] == "sql" and entry["query"] == "SELECT 42 AS x" and entry["via"] == "query_service"
    assert entry["uid"] == os.getuid() and entry["pid"] == os.getpid()
    import pwd
    assert entry["actor"] == entry["os_user"] == pwd.getpwuid(os.getuid()).pw_name


def test_ucwatch_actor_in_the_clients_environment_is_not_the_actor(
        store: Store, service: QueryService, audited: list[dict[str, Any]]) -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom ucwatch.analysts.sql import run_sql\n"
            "from ucwatch.core.settings import Settings\n"
            "sys.exit(run_sql(Settings(data_dir=Path(sys.argv[1])), 'SELECT 1 AS x', 'csv',"
            " audit=lambda *a: sys.exit(9)))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")} | {
        "UCWATCH_ACTOR": "somebody-else", "USER": "somebody-else", "LOGNAME": "somebody-else"}
    child = subprocess.Popen([sys.executable, "-c", code, str(store.settings.data_dir)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out == '"x"\n1\n'
    assert [(e["actor"], e["pid"]) for e in audited] == [(audited[0]["os_user"], child.pid)]
    assert "somebody-else" not in json.dumps(audited)


def test_a_query_the_service_cannot_audit_is_not_run(store: Store) -> None:
    def failing(entry: dict[str, Any]) -> None:
        raise AuditNotWritten("sql", "broker down")

    with QueryService(store.settings, audit=failing) as service:
        with pytest.raises(ClickHouseUnavailable, match="not run, since the query service could not audit-log"):
            ask(service.endpoint, "SELECT 1", "csv")
        assert service.served == 0
        out, err = _StringIO(), _StringIO()
        assert run_sql(store.settings, "SELECT 1", "csv", out=out, err=err) == 3
        assert out.getvalue() == "" and "could not audit-log" in err.getvalue()


class _StringIO:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


# --- limits no query can lift --------------------------------------------------------------

@pytest.mark.parametrize("limits, query, expected", [
    ({"analyst_max_execution_s": 1}, SLOW, "limit on time"),
    ({"analyst_max_result_rows": 5}, "SELECT number FROM numbers(10)", "limit on result rows"),
    ({"analyst_max_memory_bytes": 50_000_000}, "SELECT groupArray(number) FROM numbers(50000000)",
     "limit on memory"),
], ids=["time", "rows", "memory"])
def test_the_service_enforces_the_analysts_limits(store: Store, limits: dict[str, int], query: str,
                                                  expected: str) -> None:
    with QueryService(limited(store.settings, **limits), audit=lambda entry: None) as service:
        started = time.monotonic()
        with pytest.raises(ClickHouseError) as stopped:
            ask(service.endpoint, query, "csv")
        assert expected in str(stopped.value) and not isinstance(stopped.value, ClickHouseUnavailable)
        assert time.monotonic() - started < 30
        for lift in (f"{query} SETTINGS max_execution_time = 0, max_result_rows = 0, max_memory_usage = 0",
                     "SET max_execution_time = 0"):
            with pytest.raises(ClickHouseError, match="refused"):
                ask(service.endpoint, lift, "csv")


def test_the_limits_hold_without_a_service_too(store: Store, tmp_path: Path) -> None:
    client = connect(limited(store.settings, analyst_max_result_rows=5), "analyst")
    try:
        settings = client.raw_query("SELECT getSetting('max_result_rows'), getSetting('max_execution_time'), "
                                    "getSetting('readonly')", fmt="TSV")
    finally:
        client.close()
    assert settings.split() == [b"5", b"60", b"1"]


def test_a_busy_service_says_so(store: Store) -> None:
    settings = limited(store.settings, analyst_max_execution_s=3)
    with QueryService(settings, max_concurrent=1, queue_timeout_s=0.2, audit=lambda entry: None) as service:
        failures: list[Exception] = []

        def slow() -> None:
            try:
                ask(service.endpoint, SLOW, "csv")
            except ClickHouseError as exc:
                failures.append(exc)
        first = threading.Thread(target=slow)
        first.start()
        wait_for(lambda: store.running("cityHash64") == 1, 30, "the slow query did not start")
        with pytest.raises(ClickHouseUnavailable, match=r"busy.*try again"):
            ask(service.endpoint, "SELECT 1", "csv")
        first.join(30)
        assert ask(service.endpoint, "SELECT 1 AS x", "csv") == b'"x"\n1\n'


# --- a client that goes away ---------------------------------------------------------------

CHILD_ASK = """
import sys
from ucwatch.analysts.endpoint import Endpoint
from ucwatch.analysts.query_client import ask
ask(Endpoint(sys.argv[1], ""), sys.argv[2], "csv")
"""


def test_a_query_stops_when_its_client_is_killed(store: Store, service: QueryService) -> None:
    """The default time limit is 60 s: without the watcher the query would run on that long."""
    child = subprocess.Popen([sys.executable, "-c", CHILD_ASK, service.endpoint.socket, SLOW], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: store.running("cityHash64") == 1, 60, "the client's query did not start")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        stopped_in = wait_for(lambda: store.running("cityHash64") == 0, 10, "the query ran on after its client died")
    finally:
        child.kill()
    assert service.killed == 1
    print(f"query stopped {stopped_in:.2f} s after its client was killed")
    assert ask(service.endpoint, "SELECT 1 AS x", "csv") == b'"x"\n1\n'


def test_a_client_that_goes_away_costs_one_debug_line(service: QueryService, capfd: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "ucwatch.query_service"):
        served = service.served
        client = post_raw(service, BIG)
        client.recv(1)  # the answer has begun
        client.close()
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
    assert ask(service.endpoint, "SELECT 1 AS x", "csv") == b'"x"\n1\n'
