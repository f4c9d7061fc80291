"""`ucwatch sql` and the query service, on the real embedded engine (chDB).

One migrated store per module, held open by a writer client the way `ucwatch sink` holds
it. Queries reach it three ways: an analyst connection as such (what the engine enforces
by itself), `run_sql` opening the store directly (no service), and `run_sql` through the
query service. No Kafka: the audit writer is a function that records the entries, except
in the test of the default (Kafka) writer, which points at a closed port.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from ucwatch.analysts import sql as analyst
from ucwatch.analysts.query_service import QueryService, endpoint_path, read_endpoint
from ucwatch.analysts.sql import run_sql
from ucwatch.core.errors import DeliveryError
from ucwatch.core.settings import KafkaSettings, Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["event_id", "event_type", "child_id", "occurred_at", "recorded_at", "source", "synthetic",
           "kafka_partition", "kafka_offset"]
AT = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)
ROWS = [[f"e{i}", "ChildEncountered", f"c{i % 2}", AT, AT, "CBP", True, 0, i] for i in (1, 2, 3)]
SELECT_IDS = "SELECT event_id, child_id FROM events ORDER BY event_id"
EXPECTED_IDS = [("e1", "c1"), ("e2", "c0"), ("e3", "c1")]

WRITES = {
    "insert": "INSERT INTO events (event_id, child_id) VALUES ('x1', 'cx')",
    "alter_delete": "ALTER TABLE events DELETE WHERE 1",
    "drop": "DROP TABLE events",
    "truncate": "TRUNCATE TABLE events",
    "create": "CREATE TABLE copied (x String) ENGINE = MergeTree ORDER BY x",
    "set_readonly": "SET readonly = 0",
    "settings_clause": "SELECT count() FROM events SETTINGS readonly = 0",
}


@dataclass
class Store:
    settings: Settings
    writer: Client

    def snapshot(self) -> tuple[Any, ...]:
        tables = self.writer.query("SELECT name FROM system.tables WHERE database = 'ucwatch' ORDER BY name")
        events = self.writer.query("SELECT * EXCEPT landed_at FROM ucwatch.events ORDER BY event_id")
        mutations = self.writer.query("SELECT count() FROM system.mutations WHERE database = 'ucwatch'")
        return tables.result_rows, events.result_rows, mutations.result_rows


@dataclass
class Result:
    code: int
    out: str
    err: str
    audited: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A migrated store with three events, held by this process (as the sink holds it)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("analyst") / "data",
                        kafka=KafkaSettings(bootstrap="127.0.0.1:9", connect_timeout_s=0.5))
    writer = connect(settings, "writer", database="")
    try:
        migrate(writer, settings)
        writer.insert("ucwatch.events", ROWS, column_names=COLUMNS)
        yield Store(settings, writer)
    finally:
        writer.close()


@pytest.fixture
def service(store: Store) -> Iterator[QueryService]:
    with QueryService(store.settings) as running:
        yield running


def sql(settings: Settings, query: str, fmt: str = "table") -> Result:
    out, err, audited = io.StringIO(), io.StringIO(), []

    def audit(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
        audited.append({"action": action, "child_id": child_id, **details})

    code = run_sql(settings, query, fmt, audit=audit, out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue(), audited)


def run_routes(store: Store, route: str, query: str, fmt: str = "table") -> Result:
    """run_sql through the service (its fixture is running) or directly (none running)."""
    assert (read_endpoint(store.settings) is not None) == (route == "service")
    return sql(store.settings, query, fmt)


ROUTES = ["direct", "service"]


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, store: Store) -> Iterator[str]:
    if request.param == "service":
        with QueryService(store.settings):
            yield "service"
    else:
        yield "direct"


# --- (a) read-only ------------------------------------------------------------------------

@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_the_engine_refuses_writes_on_an_analyst_connection(store: Store, statement: str) -> None:
    before = store.snapshot()
    client = connect(store.settings, "analyst")
    try:
        with pytest.raises(DatabaseError) as refused:
            client.raw_query(statement)
        assert (refused.value.code, refused.value.name) == (164, "READONLY")
        assert client.raw_query("SELECT getSetting('readonly')").strip() == b"1"
    finally:
        client.close()
    assert store.snapshot() == before


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_sql_refuses_writes_with_clickhouses_readonly_error(store: Store, route: str, statement: str) -> None:
    before = store.snapshot()
    result = run_routes(store, route, statement)
    assert result.code == 1 and result.out == ""
    assert "Code: 164" in result.err and "(READONLY)" in result.err and "Traceback" not in result.err
    assert store.snapshot() == before
    assert result.audited == [{"action": "sql", "child_id": None, "query": statement}]


@pytest.mark.parametrize("statement, reason", [
    ("SYSTEM STOP MERGES", "SYSTEM statements"),
    ("/* comment */ kill query where 1", "KILL statements"),
    ("KILL MUTATION WHERE 1", "KILL statements"),
], ids=["system", "kill_query", "kill_mutation"])
def test_sql_refuses_what_readonly_mode_lets_through(store: Store, route: str, statement: str, reason: str) -> None:
    result = run_routes(store, route, statement)
    assert result.code == 1 and reason in result.err and "not run" in result.err


def test_sql_refuses_into_outfile_and_writes_no_file(store: Store, route: str, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    result = run_routes(store, route, f"SELECT * FROM events INTO OUTFILE '{target}' FORMAT CSV")
    assert result.code == 1 and "INTO OUTFILE" in result.err
    assert not target.exists()
    # The words inside a string are data, not a clause.
    assert run_routes(store, route, "SELECT 'into outfile' AS x", "csv").out == '"x"\n"into outfile"\n'


def test_sql_refuses_several_statements_in_one_query(store: Store, route: str) -> None:
    before = store.snapshot()
    result = run_routes(store, route, "SELECT 1; INSERT INTO events (event_id) VALUES ('x2')")
    assert result.code == 1 and "Multi-statements are not allowed" in result.err and result.out == ""
    assert store.snapshot() == before


def test_a_session_change_does_not_carry_over_to_the_next_query(store: Store, service: QueryService) -> None:
    assert sql(store.settings, "USE system").code == 0
    assert sql(store.settings, "SELECT currentDatabase() AS db", "csv").out == '"db"\n"ucwatch"\n'


# --- (b) errors: ClickHouse's message, exit 1, no traceback -------------------------------

def test_malformed_query_gives_clickhouses_syntax_error(store: Store, route: str) -> None:
    result = run_routes(store, route, "SELEC event_id FROM events")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("ucwatch: error: Code: 62. DB::Exception: Syntax error")
    assert result.err.rstrip().endswith("(SYNTAX_ERROR)")
    assert "Traceback" not in result.err and "formatQuerySingleLine" not in result.err


def test_unknown_table_gives_clickhouses_message(store: Store, route: str) -> None:
    result = run_routes(store, route, "SELECT * FROM no_such_table")
    assert result.code == 1 and "(UNKNOWN_TABLE)" in result.err and "Traceback" not in result.err


def test_service_answers_a_failure_of_its_own_without_a_traceback(
        store: Store, service: QueryService, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(query: str, fmt: str) -> bytes:
        raise RuntimeError("internal detail")
    monkeypatch.setattr(service, "run", broken)
    response = post(service, {"query": "SELECT 1", "format": "csv"}, token=service.endpoint.token)
    assert response.status_code == 500
    assert "RuntimeError" in response.json()["error"]
    assert "internal detail" not in response.text and "Traceback" not in response.text
    result = sql(store.settings, "SELECT 1")
    assert result.code == 3 and "500" in result.err


# --- (c) the service while this process holds the store -----------------------------------

def post(service: QueryService, body: Any, *, token: str | None, method: str = "POST") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with httpx.Client(trust_env=False, timeout=30) as http:
        return http.request(method, service.endpoint.url, json=body, headers=headers)


def test_service_answers_while_the_store_is_held(store: Store, service: QueryService) -> None:
    served = service.served
    audited_before: list[int] = []

    def audit(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
        audited_before.append(service.served)  # the entry is written before the query runs

    out = io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, "csv", audit=audit, out=out) == 0
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["event_id", "child_id"], *map(list, EXPECTED_IDS)]
    assert service.served == served + 1 and audited_before == [served]


def test_service_requires_the_token(service: QueryService) -> None:
    body = {"query": "SELECT count() AS n FROM events", "format": "json"}
    assert post(service, body, token=None).status_code == 401
    assert post(service, body, token="not-the-token").status_code == 401
    answered = post(service, body, token=service.endpoint.token)
    assert answered.status_code == 200 and json.loads(answered.text) == {"n": 3}
    assert post(service, body, token=service.endpoint.token, method="GET").status_code == 405
    assert post(service, {"query": 1}, token=service.endpoint.token).status_code == 400
    assert post(service, {"query": "SELECT 1", "format": "Native"}, token=service.endpoint.token).status_code == 400


def test_endpoint_file_is_private_beside_the_store_and_removed_on_stop(store: Store) -> None:
    path = endpoint_path(store.settings)
    store_dir = store.settings.data_dir.resolve() / "clickhouse"
    assert path == store_dir.with_name("clickhouse.query.json")
    with QueryService(store.settings) as service:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid()
        data = json.loads(path.read_text())
        assert data["pid"] == os.getpid() and data["port"] == service.port
        assert data["token"] == service.endpoint.token and len(data["token"]) >= 32
        assert read_endpoint(store.settings) == service.endpoint
        assert not list(store_dir.glob("*.query.json"))
    assert not path.exists() and read_endpoint(store.settings) is None
    # Stopped: the same process still answers, opening the store directly.
    assert sql(store.settings, "SELECT count() AS n FROM events", "csv").out == '"n"\n3\n'


def test_a_stale_endpoint_is_not_used(store: Store) -> None:
    path = endpoint_path(store.settings)
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    try:
        for pid in (int(exited.stdout), os.getpid()):  # gone, or alive but not serving
            write_endpoint(path, {"port": closed_port, "pid": pid, "token": "t", "store": "x"})
            result = sql(store.settings, "SELECT count() AS n FROM events", "csv")
            assert (result.code, result.out) == (0, '"n"\n3\n')
        path.chmod(0o644)
        result = sql(store.settings, "SELECT 1")
        assert result.code == 3 and "not private" in result.err
    finally:
        path.unlink(missing_ok=True)


def write_endpoint(path: Path, data: dict[str, Any]) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)


def test_service_answers_concurrent_queries(store: Store, service: QueryService) -> None:
    results: list[Result] = []
    threads = [threading.Thread(target=lambda: results.append(sql(store.settings, SELECT_IDS, "csv")))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.code for r in results] == [0] * 6 and len({r.out for r in results}) == 1


def test_a_second_service_in_another_process_would_be_refused(store: Store) -> None:
    """Start() opens the store first: StoreInUse when another process holds it."""
    code = ("import sys\nfrom pathlib import Path\nfrom ucwatch.sinks.errors import StoreInUse\n"
            "from ucwatch.analysts.query_service import QueryService\nfrom ucwatch.core.settings import Settings\n"
            "try:\n    QueryService(Settings(data_dir=Path(sys.argv[1]))).start()\n"
            "except StoreInUse as exc:\n    print(exc)\n    sys.exit(3)\n")
    child = run_child(code, store.settings.data_dir)
    assert child.returncode == 3 and "open in another process" in child.stdout
    assert not endpoint_path(store.settings).exists()


# --- (d) a second process -----------------------------------------------------------------

CHILD_SQL = """
import sys
from pathlib import Path
from ucwatch.analysts.sql import run_sql
from ucwatch.core.settings import Settings
entries = []
code = run_sql(Settings(data_dir=Path(sys.argv[1])), sys.argv[2], sys.argv[3],
               audit=lambda settings, action, child_id, **details: entries.append((action, details)))
assert entries == [("sql", {"query": sys.argv[2]})], entries
sys.exit(code)
"""


def run_child(code: str, *args: Any) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("UCWATCH_")}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120, check=False)


def test_another_process_queries_through_the_service(store: Store, service: QueryService) -> None:
    served = service.served
    child = run_child(CHILD_SQL, store.settings.data_dir, SELECT_IDS, "json")
    assert child.returncode == 0, child.stderr
    assert [json.loads(line) for line in child.stdout.splitlines()] == [
        {"event_id": e, "child_id": c} for e, c in EXPECTED_IDS]
    assert service.served == served + 1
    refused = run_child(CHILD_SQL, store.settings.data_dir, WRITES["drop"], "table")
    assert refused.returncode == 1 and "(READONLY)" in refused.stderr and "Traceback" not in refused.stderr


def test_another_process_without_a_service_is_told_the_store_is_in_use(store: Store) -> None:
    assert read_endpoint(store.settings) is None
    child = run_child(CHILD_SQL, store.settings.data_dir, SELECT_IDS, "table")
    assert child.returncode == 3 and child.stdout == ""
    assert "is open in another process" in child.stderr and "ucwatch sql" in child.stderr
    assert f"(pid {os.getpid()})" in child.stderr  # read from the lock chDB holds on the store
    assert "Traceback" not in child.stderr


# --- (e) formats --------------------------------------------------------------------------

def test_table_format(store: Store, route: str) -> None:
    result = run_routes(store, route, SELECT_IDS, "table")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert "┌─event_id─┬─child_id─┐" in lines[0] and "└" in lines[-1]
    assert [line.split("│")[1:3] for line in lines[1:-1]] == [[f" {e}       ", f" {c}       "]
                                                               for e, c in EXPECTED_IDS]


def test_csv_format(store: Store, route: str) -> None:
    result = run_routes(store, route, SELECT_IDS, "csv")
    assert result.code == 0
    assert list(csv.reader(io.StringIO(result.out))) == [["event_id", "child_id"], *map(list, EXPECTED_IDS)]


def test_json_format(store: Store, route: str) -> None:
    result = run_routes(store, route, "SELECT event_id, occurred_at, synthetic FROM events ORDER BY event_id",
                        "json")
    assert result.code == 0
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert rows[0] == {"event_id": "e1", "occurred_at": "2021-03-01 12:00:00.000", "synthetic": True}
    assert len(rows) == 3


def test_a_format_clause_in_the_query_wins(store: Store, route: str) -> None:
    result = run_routes(store, route, "SELECT count() AS n FROM events FORMAT TSVWithNames", "json")
    assert (result.code, result.out) == (0, "n\n3\n")


def test_output_goes_to_stdout_as_bytes(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql(store.settings, "SELECT 'é' AS s", "csv", audit=lambda *a, **k: None) == 0
    assert capsys.readouterr().out == '"s"\n"é"\n'


# --- the audit ----------------------------------------------------------------------------

def test_nothing_runs_when_the_audit_cannot_be_written(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(analyst, "query_output", lambda settings, query, fmt: ran.append(query) or b"x")

    def failing(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
        raise DeliveryError(1, "broker down")

    out, err = io.StringIO(), io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, audit=failing, out=out, err=err) == 3
    assert ran == [] and out.getvalue() == "" and "not run" in err.getvalue()


def test_the_default_audit_is_kafka_and_refuses_without_it(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(analyst, "query_output", lambda settings, query, fmt: ran.append(query) or b"x")
    out, err = io.StringIO(), io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, out=out, err=err) == 3  # Kafka at 127.0.0.1:9, 0.5 s
    assert ran == [] and out.getvalue() == ""
    assert "could not be audit-logged" in err.getvalue() and "127.0.0.1:9" in err.getvalue()


def test_an_unknown_format_is_refused_before_the_audit(store: Store) -> None:
    result = sql(store.settings, SELECT_IDS, "xml")
    assert result.code == 2 and result.audited == [] and "unknown format" in result.err


def test_no_store_is_created_by_a_query(tmp_path: Path) -> None:
    result = sql(Settings(data_dir=tmp_path / "nothing"), "SELECT 1")
    assert result.code == 3 and "no embedded ClickHouse store" in result.err
    assert not (tmp_path / "nothing").exists()

