"""The ClickHouse DDL of a cluster, checked on the embedded engine as far as it goes.

chDB cannot run the cluster variant itself: `ON CLUSTER` needs a cluster definition and the
distributed DDL queue, and Replicated engines need Keeper; it answers CLUSTER_DOESNT_EXIST.
So, for the DDL that `sinks/migrate.py` renders with `clickhouse.cluster` set:

1. every statement (and migrate()'s own two, and deploy/clickhouse/users.sql) parses:
   chDB's formatQuery, the server's own parser;
2. the cluster text differs from the single-node text only by `ON CLUSTER '<name>'`, the
   `Replicated` engine prefix and the deduplication setting's name;
3. the single-node text runs on chDB, in a fresh store, and creates every table and view.

Run: .venv/bin/python deploy/checks/clickhouse_ddl.py [cluster-name]; exit 0 when all hold.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from chdb import session  # chDB has no type hints: its calls below carry no-untyped-call ignores

from ucwatch.sinks.migrate import load_migrations, placeholders

USERS_SQL = Path(__file__).resolve().parents[1] / "clickhouse" / "users.sql"


def cluster_statements(cluster: str, database: str = "ucwatch") -> list[str]:
    values = placeholders(database, cluster)
    own = [f"CREATE DATABASE IF NOT EXISTS {database} {values['on_cluster']}",
           f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations {values['on_cluster']} "
           "(version UInt32, name String, checksum String, applied_at DateTime('UTC') DEFAULT now()) "
           f"ENGINE = {values['replicated']}MergeTree ORDER BY version"]
    return own + [s for m in load_migrations(database, cluster) for s in m.statements]


def users_statements(cluster: str) -> list[str]:
    text = "\n".join(line for line in USERS_SQL.read_text().splitlines() if not line.lstrip().startswith("--"))
    return [s.strip().replace("{cluster}", cluster) for s in text.split(";") if s.strip()]


def to_single_node(statement: str, cluster: str) -> str:
    """The cluster statement with what only a cluster needs taken out."""
    single = statement.replace(f" ON CLUSTER '{cluster}'", "")
    single = re.sub(r"\bReplicated(\w*MergeTree)", r"\1", single)
    return _spaces(single.replace("replicated_deduplication_window", "non_replicated_deduplication_window"))


def _spaces(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check(cluster: str = "ucwatch") -> list[str]:
    """The problems found; empty when the DDL holds."""
    problems: list[str] = []
    clustered = cluster_statements(cluster)
    single = cluster_statements("")
    with tempfile.TemporaryDirectory() as store:
        db = session.Session(store)  # type: ignore[no-untyped-call]
        try:
            for statement in clustered + users_statements(cluster):
                try:
                    db.query(f"SELECT formatQuery({_quoted(statement)})", "CSV")  # type: ignore[no-untyped-call]
                except Exception as failure:  # chDB raises its own RuntimeError subclasses
                    problems.append(f"does not parse: {statement[:80]!r}: {str(failure)[:200]}")
            if len(clustered) != len(single):
                problems.append(f"{len(clustered)} cluster statements but {len(single)} single-node ones")
            for wide, narrow in zip(clustered, single, strict=False):
                if cluster and f"ON CLUSTER '{cluster}'" not in wide:
                    problems.append(f"no ON CLUSTER in {wide[:80]!r}")
                if to_single_node(wide, cluster) != _spaces(narrow):
                    problems.append(f"cluster and single-node texts differ beyond ON CLUSTER/Replicated: {wide[:80]!r}")
            for statement in single:
                try:
                    db.query(statement)  # type: ignore[no-untyped-call]
                except Exception as failure:
                    problems.append(f"fails on chDB: {statement[:80]!r}: {str(failure)[:200]}")
            if not problems:
                tables = db.query("SELECT count() FROM system.tables WHERE database = 'ucwatch'", "CSV").data()  # type: ignore[no-untyped-call]
                if int(tables.strip()) < 2:
                    problems.append(f"only {tables.strip()} tables in ucwatch after the migrations")
        finally:
            db.close()  # type: ignore[no-untyped-call]
    return problems


def main(argv: list[str]) -> int:
    cluster = argv[1] if len(argv) > 1 else "ucwatch"
    problems = check(cluster)
    for problem in problems:
        print(f"clickhouse ddl: {problem}", file=sys.stderr)
    n = len(cluster_statements(cluster)) + len(users_statements(cluster))
    print(f"clickhouse ddl: {n} statements of cluster {cluster!r} parsed; single-node variant ran on chDB"
          if not problems else f"clickhouse ddl: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
