"""`ucwatch sql` and the query service, on the real embedded engine (chDB).

One migrated store per module, held open by a writer client the way `ucwatch sink` holds
it. Queries reach it three ways: an analyst connection as such (what the engine enforces
by itself), `run_sql` opening the store directly (no service), and `run_sql` through the
query service. No Kafka: the audit writers (of `run_sql` for a direct query, of the
service for a served one) record the entries, except in the test of the default (Kafka)
writer, which points at a closed port. tests/unit/analysts/ has the allow-list, the
limits, the service's audit and its cancelling.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from ucwatch.analysts import sql as analyst
from ucwatch.analysts.query_client import ask
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
    served: list[dict[str, Any]] = field(default_factory=list)
    """The audit entries the query services of these tests wrote."""

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


def serving(store: Store) -> QueryService:
    return QueryService(store.settings, audit=store.served.append)


@pytest.fixture
def service(store: Store) -> Iterator[QueryService]:
    with serving(store) as running:
        yield running


def sql(settings: Settings, query: str, fmt: str = "table") -> Result:
    out, err, audited = io.StringIO(), io.StringIO(), []

    def audit(settings: Settings, entry: dict[str, Any]) -> None:
        audited.append(entry)

    code = run_sql(settings, query, fmt, audit=audit, out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue(), audited)


def audited_queries(store: Store, result: Result) -> list[str]:
    """The queries audited for `result`: by `run_sql` (direct) or by the service (served)."""
    entries, store.served[:] = result.audited + store.served, []
    return [entry["query"] for entry in entries if entry["action"] == "sql"]


def run_routes(store: Store, route: str, query: str, fmt: str = "table") -> Result:
    """run_sql through the service (its fixture is running) or directly (none running)."""
    assert (read_endpoint(store.settings) is not None) == (route == "service")
    return sql(store.settings, query, fmt)


ROUTES = ["direct", "service"]


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, store: Store) -> Iterator[str]:
    if request.param == "service":
        with serving(store):
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
def test_sql_refuses_writes_before_they_reach_the_engine(store: Store, route: str, statement: str) -> None:
    """The allow-list refuses them (the engine's read-only mode, above, is the second wall)."""
    store.served.clear()
    before = store.snapshot()
    result = run_routes(store, route, statement)
    assert result.code == 1 and result.out == ""
    assert "refused" in result.err and "not run" in result.err and "Traceback" not in result.err
    assert store.snapshot() == before
    assert audited_queries(store, result) == [statement]


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


def test_a_session_change_is_refused_and_does_not_carry_over(store: Store, service: QueryService) -> None:
    assert sql(store.settings, "USE system").code == 1
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
    def broken(query: str, fmt: str, peer: object, gone: object) -> bytes:
        raise RuntimeError("internal detail")
    monkeypatch.setattr(service, "run", broken)
    result = sql(store.settings, "SELECT 1")
    assert result.code == 3 and "500" in result.err and "RuntimeError" in result.err
    assert "internal detail" not in result.err and "Traceback" not in result.err


# --- (c) the service while this process holds the store -----------------------------------

def test_service_answers_while_the_store_is_held(store: Store, service: QueryService) -> None:
    served = service.served
    store.served.clear()
    out = io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, "csv", audit=lambda *a: pytest.fail("audited by the client"),
                   out=out) == 0
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["event_id", "child_id"], *map(list, EXPECTED_IDS)]
    assert service.served == served + 1
    assert [entry["query"] for entry in store.served] == [SELECT_IDS]  # written by the service


def test_service_answers_malformed_requests(service: QueryService) -> None:
    import httpx
    with httpx.Client(transport=httpx.HTTPTransport(uds=service.endpoint.socket), trust_env=False) as http:
        assert http.get(service.endpoint.url).status_code == 405
        assert http.post(service.endpoint.url, json={"query": 1}).status_code == 400
        assert http.post(service.endpoint.url, json={"query": "SELECT 1", "format": "Native"}).status_code == 400
        answered = http.post(service.endpoint.url, json={"query": "SELECT count() AS n FROM events",
                                                         "format": "json"})
    assert answered.status_code == 200 and json.loads(answered.text) == {"n": 3}


def test_a_stale_socket_is_not_used(store: Store) -> None:
    """A sink killed with -9 leaves its socket: nothing listens; the query runs directly."""
    path = endpoint_path(store.settings)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    try:
        assert read_endpoint(store.settings) is not None
        result = sql(store.settings, "SELECT count() AS n FROM events", "csv")
        assert (result.code, result.out) == (0, '"n"\n3\n')
        assert [entry["query"] for entry in result.audited] == ["SELECT count() AS n FROM events"]
        with serving(store) as service:  # the next service replaces it
            assert ask(service.endpoint, "SELECT 1 AS x", "csv") == b'"x"\n1\n'
        assert not path.exists()
    finally:
        path.unlink(missing_ok=True)


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
            "try:\n    QueryService(Settings(data_dir=Path(sys.argv[1])), audit=print).start()\n"
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
               audit=lambda settings, entry: entries.append(entry))
print(f"audited by the client: {len(entries)}", file=sys.stderr)
sys.exit(code)
"""


def run_child(code: str, *args: Any) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("UCWATCH_")}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120, check=False)


def test_another_process_queries_through_the_service(store: Store, service: QueryService) -> None:
    served = service.served
    store.served.clear()
    child = run_child(CHILD_SQL, store.settings.data_dir, SELECT_IDS, "json")
    assert child.returncode == 0, child.stderr
    assert "audited by the client: 0" in child.stderr
    assert [(entry["query"], entry["pid"]) for entry in store.served][:1] == [(SELECT_IDS, entry_pid(store))]
    assert [json.loads(line) for line in child.stdout.splitlines()] == [
        {"event_id": e, "child_id": c} for e, c in EXPECTED_IDS]
    assert service.served == served + 1
    refused = run_child(CHILD_SQL, store.settings.data_dir, WRITES["drop"], "table")
    assert refused.returncode == 1 and "refused" in refused.stderr and "Traceback" not in refused.stderr


def entry_pid(store: Store) -> int:
    """The pid the service recorded (the child's, from the kernel: not this process)."""
    pid = int(store.served[0]["pid"])
    assert pid != os.getpid()
    return pid


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
    monkeypatch.setattr(analyst, "execute", lambda client, query, fmt, **kw: ran.append(query) or b"x")

    def failing(settings: Settings, entry: dict[str, Any]) -> None:
        raise DeliveryError(1, "broker down")

    out, err = io.StringIO(), io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, audit=failing, out=out, err=err) == 3
    assert ran == [] and out.getvalue() == "" and "not run" in err.getvalue()


def test_the_default_audit_is_kafka_and_refuses_without_it(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(analyst, "execute", lambda client, query, fmt, **kw: ran.append(query) or b"x")
    out, err = io.StringIO(), io.StringIO()
    assert run_sql(store.settings, SELECT_IDS, out=out, err=err) == 3  # Kafka at 127.0.0.1:9, 0.5 s
    assert ran == [] and out.getvalue() == ""
    assert "could not be audit-logged" in err.getvalue() and "127.0.0.1:9" in err.getvalue()


def test_a_direct_query_names_the_os_user_not_ucwatch_actor(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd
    monkeypatch.setenv("UCWATCH_ACTOR", "somebody-else")
    monkeypatch.setenv("USER", "somebody-else")
    entry = sql(store.settings, "SELECT 1").audited[0]
    me = pwd.getpwuid(os.getuid()).pw_name
    assert (entry["actor"], entry["os_user"], entry["uid"], entry["via"]) == (me, me, os.getuid(), "direct")
    assert entry["claimed_actor"] == "somebody-else"


def test_an_unknown_format_is_refused_before_the_audit(store: Store) -> None:
    result = sql(store.settings, SELECT_IDS, "xml")
    assert result.code == 2 and result.audited == [] and "unknown format" in result.err


def test_no_store_is_created_by_a_query(tmp_path: Path) -> None:
    result = sql(Settings(data_dir=tmp_path / "nothing"), "SELECT 1")
    assert result.code == 3 and "no embedded ClickHouse store" in result.err
    assert not (tmp_path / "nothing").exists()



def test_an_unreachable_server_is_named_without_secrets_or_the_http_librarys_text() -> None:
    from ucwatch.core.settings import ClickHouseSettings
    from ucwatch.sinks.clickhouse import redact
    from ucwatch.sinks.errors import ClickHouseUnavailable
    settings = Settings(clickhouse=ClickHouseSettings(dsn="http://bob:sekrit@127.0.0.1:9/"))
    with pytest.raises(ClickHouseUnavailable) as unreachable:
        connect(settings, "analyst")
    assert str(unreachable.value) == "ClickHouse at http://bob:****@127.0.0.1:9/ cannot be reached " \
                                     "([Errno 111] Connection refused)"
    assert redact("http://bob@h:8123/?password=sekrit&database=x") == "http://bob@h:8123/?password=****&database=x"
