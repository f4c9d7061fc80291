"""Schema migrations on the real embedded engine: idempotent, drift refused, cluster variant."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import LIFECYCLE, default_catalog
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.errors import MigrationError
from ucwatch.sinks.migrate import MIGRATIONS_DIR, load_migrations, migrate
from ucwatch.sinks.rows import TARGETS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Settings, object]]:
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": f"chdb://{tmp_path}/ch",
                                      "UCWATCH_CLICKHOUSE_DATABASE": "landing"})
    client = connect(settings, database="")
    try:
        yield settings, client
    finally:
        client.close()


def schema_of(client, database: str) -> dict[str, str]:
    names = [row[0] for row in client.query(f"SHOW TABLES FROM {database}").result_rows]
    return {name: client.command(f"SHOW CREATE TABLE {database}.{name}") for name in names}


def test_applying_twice_changes_nothing(store) -> None:
    settings, client = store
    first = migrate(client, settings)
    assert [m.version for m in first] == [m.version for m in load_migrations("landing")]
    before = schema_of(client, "landing")
    recorded = client.query("SELECT version, checksum FROM landing.schema_migrations ORDER BY version").result_rows
    assert migrate(client, settings) == []
    assert schema_of(client, "landing") == before
    assert client.query("SELECT version, checksum FROM landing.schema_migrations ORDER BY version").result_rows \
        == recorded


def test_a_crash_between_a_statement_and_its_record_is_harmless(store) -> None:
    settings, client = store
    migrate(client, settings)
    client.command("TRUNCATE TABLE landing.schema_migrations")  # as if no version had been recorded
    assert len(migrate(client, settings)) == len(load_migrations("landing"))


def test_an_applied_migration_that_was_edited_is_refused(store, tmp_path: Path) -> None:
    settings, client = store
    migrate(client, settings)
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    first = sorted(edited.glob("V001__*.sql"))[0]
    first.write_text(first.read_text().replace("landed_at", "landed_time"))
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(client, settings, edited)


def test_every_mapped_column_exists_and_every_event_field_has_one(store) -> None:
    settings, client = store
    migrate(client, settings)
    for target in TARGETS:
        columns = {row[0] for row in client.query(f"DESCRIBE TABLE landing.{target.table}").result_rows}
        assert set(target.columns) <= columns, target.table
    event_columns = {row[0] for row in client.query("DESCRIBE TABLE landing.events").result_rows}
    catalog = default_catalog()
    for name in catalog.names(LIFECYCLE):
        for field in catalog.latest(name).fields:
            assert field["name"] in event_columns, f"{name}.{field['name']} has no column in events"


def test_the_cluster_variant_is_valid_replicated_on_cluster_ddl(store) -> None:
    _, client = store
    statements = [s for m in load_migrations("landing", cluster="analytics") for s in m.statements]
    assert statements
    for statement in statements:
        assert "ON CLUSTER 'analytics'" in statement
        if statement.startswith("CREATE TABLE"):
            assert "ENGINE = Replicated" in statement and "replicated_deduplication_window" in statement
        # The engine's own parser accepts it (it cannot run here: there is no cluster).
        client.query("SELECT formatQuery({statement:String})", parameters={"statement": statement})


def test_names_are_refused_unless_plain_identifiers() -> None:
    with pytest.raises(MigrationError):
        load_migrations("landing; DROP TABLE x")
    with pytest.raises(MigrationError):
        load_migrations("landing", cluster="a b")
