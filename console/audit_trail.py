"""The audit trail for the admin page, read from ClickHouse's `audit` table (the sink lands
the audit topic there, sinks/audit_rows.py): newest first, a page at a time, filtered by
actor, child and action.

Read by the analysts' read-only path, like a child's history (`console.history`): the
analyst connection on a server DSN, the sink's query service on the embedded store. That
path takes a query's text, not parameters, so each filter is checked against a strict
pattern (a user name, a pseudonymous child token, an action name) before it is put
between quotes, and a value that does not match is dropped with a note on the page: the
query can hold nothing but those characters. Paging is by OFFSET over (at, partition,
offset) descending, one row more than a page to know whether there is a next one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ucwatch.console.actions import CHILD_TOKEN
from ucwatch.console.history import NO_SINK, analyst_rows
from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import ClickHouseError

PAGE_SIZE = 100
MAX_PAGE = 10_000
ACTOR = re.compile(r"^[A-Za-z0-9._@:-]{1,64}\Z")
"""A console user, an operating-system user (or ``uid:N``), a query-service peer."""
ACTION = re.compile(r"^[a-z][a-z0-9_]{0,59}\Z")
COLUMNS = ("at", "action", "actor", "role", "via", "os_user", "host", "child_id", "alert_id", "action_id", "details")


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    child: str = ""
    action: str = ""
    page: int = 1
    dropped: tuple[str, ...] = ()
    """Filters given that were not valid, so not applied (said on the page)."""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> AuditFilter:
        kept: dict[str, str] = {}
        dropped = []
        for name, pattern in (("actor", ACTOR), ("child", CHILD_TOKEN), ("action", ACTION)):
            value = params.get(name, "").strip()
            if value and pattern.match(value):
                kept[name] = value
            elif value:
                dropped.append(name)
        try:
            page = min(MAX_PAGE, max(1, int(params.get("page", "1"))))
        except ValueError:
            page = 1
        return cls(page=page, dropped=tuple(dropped), **kept)

    def query_string(self, page: int) -> str:
        """The page's query string for `page`, with these filters."""
        parts = [f"{k}={v}" for k, v in (("actor", self.actor), ("child", self.child), ("action", self.action)) if v]
        return "?" + "&".join([*parts, f"page={page}"])


@dataclass
class AuditPage:
    entries: list[dict[str, Any]] = field(default_factory=list)
    page: int = 1
    more: bool = False
    """There is a next page."""
    actions: list[str] = field(default_factory=list)
    """Every action name in the trail, for the filter's choices."""
    unavailable: str = ""
    """Why the trail could not be read (empty when it was)."""


def entries_query(wanted: AuditFilter, page_size: int = PAGE_SIZE) -> str:
    conditions = []
    for column, value, pattern in (("actor", wanted.actor, ACTOR), ("child_id", wanted.child, CHILD_TOKEN),
                                   ("action", wanted.action, ACTION)):
        if value:
            if not pattern.match(value):  # from_query drops these; a caller building one must not bypass it
                raise ValueError(f"{column} {value!r} is not a valid filter")
            conditions.append(f"{column} = '{value}'")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (f"SELECT {', '.join(COLUMNS)} FROM audit{where} ORDER BY at DESC, kafka_partition DESC, "
            f"kafka_offset DESC LIMIT {page_size + 1} OFFSET {(wanted.page - 1) * page_size}")


ACTIONS_QUERY = "SELECT DISTINCT action FROM audit ORDER BY action"

AuditReader = Callable[[AuditFilter], AuditPage]


def read_audit(settings: Settings, wanted: AuditFilter, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of the trail; `unavailable` says why when ClickHouse cannot be asked."""
    try:
        run = analyst_rows(settings)
        if run is None:
            return AuditPage(page=wanted.page, unavailable=NO_SINK)
        return page_of(run(entries_query(wanted, page_size)), [r["action"] for r in run(ACTIONS_QUERY)],
                       wanted.page, page_size)
    except ClickHouseError as exc:
        return AuditPage(page=wanted.page, unavailable=f"ClickHouse could not be read: {exc}")


def page_of(rows: list[dict[str, Any]], actions: list[str], page: int, page_size: int = PAGE_SIZE) -> AuditPage:
    """The page from the query's rows (one more than a page when there is a next one)."""
    entries = [_entry(row) for row in rows[:page_size]]
    return AuditPage(entries, page, len(rows) > page_size, actions)


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    try:
        details = json.loads(row.get("details") or "{}")
    except ValueError:
        details = {"details": row.get("details")}
    shown = "; ".join(f"{k} {json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v}"
                      for k, v in sorted(details.items()) if v not in (None, ""))
    return {**row, "details": shown}


def not_configured(wanted: AuditFilter) -> AuditPage:
    return AuditPage(page=wanted.page, unavailable="the audit trail is not configured")
