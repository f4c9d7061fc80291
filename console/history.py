"""A child's lifecycle events and current state from ClickHouse, by the analysts' read-only path.

- ClickHouse server (``http(s)://`` DSN): the analyst connection (`clickhouse.analyst_dsn`,
  else the DSN with ``readonly=1``), through `analysts.guard.execute`.
- Embedded store: only through the query service of the process holding it (the sink),
  found by its endpoint file. The console never opens the store itself: that would take
  it from the sink. With no sink serving queries the page says so and shows the alerts
  and actions it has from Kafka.

The child id is checked to be a pseudonymous child token before it is put in the query,
so the query holds nothing but token characters between its quotes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ucwatch.analysts.endpoint import read_endpoint
from ucwatch.analysts.guard import execute
from ucwatch.analysts.query_client import ask
from ucwatch.console.actions import CHILD_TOKEN
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect, is_embedded
from ucwatch.sinks.errors import ClickHouseError

EVENT_COLUMNS = ("occurred_at", "recorded_at", "event_type", "source", "state", "address_quality", "outcome",
                 "contact_type", "reached", "hearing_id", "hearing_at", "court_code")
STATE_COLUMNS = ("custody_status", "contact_status", "court_status", "release_state", "next_hearing_at",
                 "last_contact_at", "as_of")
MAX_EVENTS = 1000


@dataclass
class ChildHistory:
    events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    unavailable: str = ""
    """Why events could not be read (empty when they were)."""


def events_query(child_id: str) -> str:
    _check(child_id)
    return (f"SELECT {', '.join(EVENT_COLUMNS)} FROM events_distinct WHERE child_id = '{child_id}' "
            f"ORDER BY occurred_at, recorded_at LIMIT {MAX_EVENTS}")


def state_query(child_id: str) -> str:
    _check(child_id)
    return f"SELECT {', '.join(STATE_COLUMNS)} FROM child_state_current WHERE child_id = '{child_id}' LIMIT 1"


NO_SINK = "no sink is serving queries on the embedded ClickHouse store (start `ucwatch sink`)"


def child_history(settings: Settings, child_id: str) -> ChildHistory:
    """The child's events and state; `unavailable` says why when ClickHouse cannot be asked."""
    try:
        run = analyst_rows(settings)
        if run is None:
            return ChildHistory(unavailable=NO_SINK)
        states = run(state_query(child_id))
        return ChildHistory(events=run(events_query(child_id)), state=states[0] if states else None)
    except ClickHouseError as exc:
        return ChildHistory(unavailable=f"ClickHouse could not be read: {exc}")


def analyst_rows(settings: Settings) -> Callable[[str], list[dict[str, Any]]] | None:
    """A way to run one read-only query and get its rows as dicts, the analysts' way; None
    when the store is embedded and no sink serves queries (the console never opens it)."""
    if is_embedded(settings.clickhouse_dsn):
        endpoint = read_endpoint(settings)
        if endpoint is None:
            return None
        return lambda query: _rows(ask(endpoint, query, "json", timeout_s=10.0))

    def on_server(query: str) -> list[dict[str, Any]]:
        client = connect(settings, "analyst")
        try:
            return _rows(execute(client, query, "json"))
        finally:
            client.close()
    return on_server


def _rows(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.decode().splitlines() if line.strip()]


def _check(child_id: str) -> None:
    if not CHILD_TOKEN.match(child_id):
        raise ValueError(f"{child_id!r} is not a pseudonymous child token")
