"""Fixtures of the sink's tests: an embedded ClickHouse store with ucwatch's tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect
from ucwatch.sinks.migrate import migrate


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Settings, Any]]:
    """Settings for a fresh chDB store under tmp_path, migrated, and a client of it."""
    settings = Settings.load(environ={"UCWATCH_CLICKHOUSE_DSN": f"chdb://{tmp_path}/ch",
                                      "UCWATCH_CLICKHOUSE_DATABASE": "landing"})
    client = connect(settings, database="")
    try:
        migrate(client, settings)
        yield settings, client
    finally:
        client.close()
