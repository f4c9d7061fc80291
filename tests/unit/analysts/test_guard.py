"""The analysts' allow-list on the real embedded engine (chDB): what an analyst tried in
issue 13 (host files, system tables, network, settings) is refused, naming what, and
nothing of it runs; the documented example queries still run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from ucwatch.analysts.allowlist import parse_ast
from ucwatch.analysts.guard import QueryRefused, execute
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("guard") / "data")
    writer = connect(settings, "writer", database="")
    try:
        migrate(writer, settings)
        yield settings
    finally:
        writer.close()


@pytest.fixture
def analyst(store: Settings) -> Iterator[Client]:
    """A fresh analyst connection per test, as the service and `ucwatch sql` use one per query."""
    client = connect(store, "analyst")
    try:
        yield client
    finally:
        client.close()


REFUSED = {
    "file_scalar": ("SELECT substring(file('/etc/shadow'), 1, 5)", "function file()"),
    "file_scalar_upper_case": ("SELECT FILE('/etc/passwd')", "function FILE()"),
    "proc_environ": ("SELECT file('/proc/self/environ')", "function file()"),
    "file_table_function": ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "table function file()"),
    "url": ("SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'x String')", "table function url()"),
    "s3": ("SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV')", "table function s3()"),
    "remote": ("SELECT * FROM remote('127.0.0.1:9', system.one)", "table function remote()"),
    "executable": ("SELECT * FROM executable('id', 'TSV', 'x String')", "table function executable()"),
    "python": ("SELECT * FROM python('x')", "table function python()"),
    "stack_trace": ("SELECT * FROM system.stack_trace", "table system.stack_trace"),
    "processes": ("SELECT query FROM system.processes", "table system.processes"),
    "disks": ("SELECT path FROM system.disks", "table system.disks"),
    "system_in_a_join": ("SELECT * FROM events AS e JOIN system.users AS u ON 1", "table system.users"),
    "system_via_in": ("SELECT 1 FROM events WHERE child_id IN system.users", "table system.users"),
    "sink_ledger": ("SELECT * FROM sink_ledger", "table sink_ledger"),
    "in_a_subquery": ("SELECT (SELECT file('/etc/passwd')) AS x", "function file()"),
    "in_a_cte": ("WITH t AS (SELECT file('/etc/passwd') AS x) SELECT * FROM t", "function file()"),
    "in_a_with_expression": ("WITH file('/etc/passwd') AS x SELECT x", "function file()"),
    "in_a_lambda": ("SELECT arrayMap(p -> file(p), ['/etc/passwd'])", "function file()"),
    "table_function_in_a_join": ("SELECT * FROM events AS e LEFT JOIN file('/etc/passwd', 'LineAsString') AS f "
                                 "ON 1", "table function file()"),
    "table_function_in_union": ("SELECT 1 UNION ALL SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'x UInt8')",
                                "table function url()"),
    "sleep": ("SELECT sleepEachRow(1) FROM numbers(100)", "function sleepEachRow()"),
    "host_name": ("SELECT hostName()", "function hostName()"),
    "server_setting": ("SELECT getServerSetting('path')", "function getServerSetting()"),
    "dictionary": ("SELECT dictGet('d', 'x', 1)", "function dictGet()"),
    "settings_lift_time": ("SELECT count() FROM events SETTINGS max_execution_time = 0", "SETTINGS"),
    "settings_lift_rows": ("SELECT * FROM numbers(10) SETTINGS max_result_rows = 0, readonly = 0", "SETTINGS"),
    "settings_in_a_subquery": ("SELECT * FROM (SELECT 1 SETTINGS max_memory_usage = 0)", "SETTINGS"),
    "show_processlist": ("SHOW PROCESSLIST", "not ShowProcesslistQuery"),
    "show_tables_elsewhere": ("SHOW TABLES FROM system", "SHOW TABLES lists the ucwatch database only"),
    "describe_a_system_table": ("DESCRIBE TABLE system.processes", "table system.processes"),
    "explain_of_a_refused_query": ("EXPLAIN SELECT file('/etc/passwd')", "function file()"),
    "use": ("USE system", "not UseQuery"),
}


@pytest.mark.parametrize("query, named", REFUSED.values(), ids=REFUSED.keys())
def test_the_guard_refuses_what_is_not_on_the_allow_list(analyst: Client, query: str, named: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        execute(analyst, query, "csv")
    message = str(refused.value)
    assert named in message and "not run" in message, message
    assert "root:" not in message and "PATH=" not in message


EXAMPLES = re.findall(r"^(SELECT .*?;)$", (REPO / "docs" / "analysts.md").read_text().split("## Example queries")[1],
                      flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("query", [q.rstrip(";") for q in EXAMPLES] + [
    "SELECT countIf(number > 1), uniqExactState(number), quantile(0.5)(number), sumArray([number]) FROM numbers(10)",
    "SELECT CASE WHEN 1 THEN 2 END, CASE 1 WHEN 1 THEN 2 END, 1::String, now() - INTERVAL 1 DAY, [1][1], (1, 2).1, "
    "EXISTS (SELECT 1), NULL IS NULL, 'a' LIKE 'a', date_trunc('day', now()), SUBSTRING('abc', 1, 1)",
    "SELECT number, row_number() OVER (ORDER BY number) FROM numbers(3)",
    "WITH t AS (SELECT 1 AS x) SELECT * FROM t WHERE x IN (SELECT 1) UNION ALL SELECT dummy FROM system.one",
    "SHOW TABLES", "DESCRIBE TABLE events", "EXPLAIN SELECT count() FROM events_distinct",
    "SELECT * FROM ucwatch.oversight_by_fy(as_of = '2024-05-01 00:00:00') FORMAT TSV",
])
def test_analysts_queries_still_run(analyst: Client, query: str) -> None:
    assert isinstance(execute(analyst, query, "csv"), bytes)


def test_the_examples_were_found() -> None:
    assert len(EXAMPLES) >= 9


def test_the_parse_tree_is_read_as_clickhouse_writes_it(analyst: Client) -> None:
    text = analyst.raw_query("EXPLAIN AST SELECT substring(file('/x'), 1) AS a FROM events AS e").decode()
    tree = parse_ast(text)
    names = []

    def walk(node: object) -> None:
        from ucwatch.analysts.allowlist import Node
        assert isinstance(node, Node)
        names.append((node.kind, node.name))
        for child in node.children:
            walk(child)
    walk(tree)
    assert ("Function", "substring") in names and ("Function", "file") in names
    assert ("TableIdentifier", "events") in names and tree.kind == "SelectWithUnionQuery"
