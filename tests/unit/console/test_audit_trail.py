"""The admin page's audit trail queries, run on the real embedded engine through the
analysts' guard (what the query service runs them with): newest first, paged, filtered
by actor, child and action; a filter value that is not an id is never put in a query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ucwatch.analysts.guard import execute
from ucwatch.console.audit_trail import ACTIONS_QUERY, AuditFilter, entries_query, page_of
from ucwatch.core.settings import Settings
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate
from ucwatch.sinks.rows import AUDIT
from ucwatch.sinks.writer import BatchWriter

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CHILDREN = ("SYN-CH-000000001", "SYN-CH-000000002")


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[Any]:
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": f"chdb://{tmp_path}/ch",
                                      "UCWATCH_CLICKHOUSE_DATABASE": "landing"})
    client = connect(settings, database="")
    try:
        migrate(client, settings)
        batch = Batch("ucwatch.audit", 0, AUDIT.table, first_offset=0)
        for i in range(7):  # olivia acts on both children in turn; sam views the queue
            actor, action = ("sam", "console_view_queue") if i % 3 == 2 else ("olivia", "console_acknowledged")
            entry = {"at": T0 + timedelta(minutes=i), "action": action, "actor": actor, "role": "operator",
                     "via": "console", "child_id": CHILDREN[i % 2] if actor == "olivia" else None,
                     "n": i}
            batch.add(i, [*AUDIT.to_row(entry), 0, i])
        BatchWriter(client, "landing", {AUDIT.table: AUDIT}).write(batch)
        analyst = connect(settings, "analyst")
        yield analyst
    finally:
        client.close()


def rows(client: Any, query: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in execute(client, query, "json").decode().splitlines()]


def numbers(client: Any, wanted: AuditFilter, page_size: int = 3) -> tuple[list[int], bool]:
    page = page_of(rows(client, entries_query(wanted, page_size)), [], wanted.page, page_size)
    return [int(e["details"].split()[-1]) for e in page.entries], page.more


def test_newest_first_a_page_at_a_time(trail: Any) -> None:
    assert numbers(trail, AuditFilter()) == ([6, 5, 4], True)
    assert numbers(trail, AuditFilter(page=3)) == ([0], False)
    assert [r["action"] for r in rows(trail, ACTIONS_QUERY)] == ["console_acknowledged", "console_view_queue"]


def test_filters_by_actor_child_and_action(trail: Any) -> None:
    assert numbers(trail, AuditFilter(actor="sam"), 10) == ([5, 2], False)
    assert numbers(trail, AuditFilter(child=CHILDREN[1]), 10) == ([3, 1], False)
    assert numbers(trail, AuditFilter(actor="olivia", action="console_acknowledged", child=CHILDREN[0]), 10) == (
        [6, 4, 0], False)
    assert numbers(trail, AuditFilter(actor="nobody"), 10) == ([], False)


def test_a_value_that_is_not_an_id_is_dropped_never_queried() -> None:
    wanted = AuditFilter.from_query({"actor": "x' OR '1'='1", "child": "CH-1", "action": "DROP TABLE", "page": "-4"})
    assert wanted == AuditFilter(child="CH-1", dropped=("actor", "action"))
    assert "'" not in entries_query(AuditFilter()).replace("''", "")
    with pytest.raises(ValueError, match="not a valid filter"):
        entries_query(AuditFilter(actor="x' OR 1=1 --"))
    assert AuditFilter.from_query({"page": "many"}).page == 1
