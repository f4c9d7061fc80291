"""Versioned, idempotent DDL migrations applied at start (`ucwatch migrate`, the sink).

Migrations are the files ``sinks/migrations/V<NNN>__<name>.sql``: statements separated
by ``;`` at the end of a line, with ``${...}`` placeholders that make one text serve a
single node and a cluster:

- ``${db}``: the database;
- ``${on_cluster}``: empty, or ``ON CLUSTER <name>``;
- ``${replicated}``: empty, or ``Replicated`` (engines become ReplicatedMergeTree with the
  server's default replica path);
- ``${dedup_setting}`` / ``${dedup_window}``: the table setting that keeps the hashes of
  recent inserts, so a retried insert with the same deduplication token is dropped.

Applied versions are recorded in ``${db}.schema_migrations`` with the checksum of the
rendered text. Applying is idempotent twice over: applied versions are skipped, and every
statement is itself ``IF NOT EXISTS``, so a crash between a statement and its record is
harmless. A migration whose text changed after it was applied is refused (write a new
version instead of editing an old one).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client

from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import FOREIGN_ERRORS, MigrationError, from_driver

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEDUP_WINDOW = 10_000
_NAME = re.compile(r"^V(\d{3})__(\w+)\.sql$")
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()[:16]


def placeholders(database: str, cluster: str = "") -> dict[str, str]:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise MigrationError(f"database name {database!r} is not a plain identifier")
    if cluster and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", cluster):
        raise MigrationError(f"cluster name {cluster!r} is not a plain identifier")
    return {
        "db": database,
        "on_cluster": f"ON CLUSTER '{cluster}'" if cluster else "",
        "replicated": "Replicated" if cluster else "",
        "dedup_setting": ("replicated_deduplication_window" if cluster
                          else "non_replicated_deduplication_window"),
        "dedup_window": str(DEDUP_WINDOW),
    }


def load_migrations(database: str, cluster: str = "",
                    directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    values = placeholders(database, cluster)
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named V<NNN>__<name>.sql")
        try:
            text = Template(path.read_text()).substitute(values)
        except (KeyError, ValueError) as exc:
            raise MigrationError(f"{path.name}: unknown or malformed placeholder {exc}") from None
        statements = tuple(s.strip() for s in _STATEMENT_END.split(_strip_comments(text)) if s.strip())
        migrations.append(Migration(int(match.group(1)), match.group(2), statements))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {sorted(versions)}")
    return migrations


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def migrate(client: Client, settings: Settings, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Applies what is missing; returns the migrations applied now (none: up to date).

    Raises `MigrationError`, or ClickHouse's refusal or unavailability (sinks/errors.py)."""
    try:
        return _migrate(client, settings, directory)
    except FOREIGN_ERRORS as exc:
        raise from_driver(exc) from exc


def _migrate(client: Client, settings: Settings, directory: Path) -> list[Migration]:
    database, cluster = settings.clickhouse.database, settings.clickhouse.cluster
    values = placeholders(database, cluster)
    client.command(f"CREATE DATABASE IF NOT EXISTS {database} {values['on_cluster']}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations {values['on_cluster']} "
        "(version UInt32, name String, checksum String, applied_at DateTime('UTC') DEFAULT now()) "
        f"ENGINE = {values['replicated']}MergeTree ORDER BY version")
    applied = {version: checksum for version, checksum in client.query(
        f"SELECT version, any(checksum) FROM {database}.schema_migrations GROUP BY version").result_rows}
    done = []
    for migration in load_migrations(database, cluster, directory):
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration V{migration.version:03d}__{migration.name} was changed after it was "
                    "applied; add a new migration instead of editing an applied one")
            continue
        for statement in migration.statements:
            client.command(statement)
        client.insert(f"{database}.schema_migrations", [[migration.version, migration.name, migration.checksum]],
                      column_names=["version", "name", "checksum"])
        done.append(migration)
    return done
