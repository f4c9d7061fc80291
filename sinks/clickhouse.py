"""Connections to ClickHouse, embedded (chDB) or a server, for the two roles ucwatch has.

- ``writer``: the sink and the migrations. On a server this is the DSN's user.
- ``analyst``: read-only. The engine enforces it: the connection carries ``readonly=1``,
  which also forbids changing that setting back (a server may instead give analysts their
  own read-only user through ``clickhouse.analyst_dsn``).

An embedded store is one directory that one process at a time can open; a second
process trying gets `StoreInUse` instead of chDB's bare "Error initializing EmbeddedServer".
"""

from __future__ import annotations

from typing import Any, Literal

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.exceptions import OperationalError, ProgrammingError

from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable, StoreInUse

Role = Literal["writer", "analyst"]

READ_ONLY = {"readonly": 1}


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def store_path(dsn: str) -> str:
    """The directory of an embedded store (``chdb:///abs/path`` -> ``/abs/path``)."""
    return dsn[len("chdb://"):]


def connect(settings: Settings, role: Role = "writer", *, database: str | None = None) -> Client:
    """A clickhouse-connect client for `role`; `database` defaults to the configured one.

    Pass ``database=""`` to connect before the database exists (migrations create it).
    """
    dsn = settings.clickhouse_dsn
    database = settings.clickhouse.database if database is None else database
    extra: dict[str, Any] = {}
    if role == "analyst":
        if settings.clickhouse.analyst_dsn and not is_embedded(dsn):
            dsn = settings.clickhouse.analyst_dsn
        else:
            extra["settings"] = dict(READ_ONLY)
    if database:
        extra["database"] = database
    try:
        return clickhouse_connect.get_client(dsn=dsn, **extra)
    except ProgrammingError as exc:
        if is_embedded(dsn) and "EmbeddedServer" in str(exc):
            raise StoreInUse(store_path(dsn), "chDB refused to open it") from exc
        raise ClickHouseError(f"cannot open ClickHouse at {redact(dsn)}: {exc}") from exc
    except OperationalError as exc:
        raise ClickHouseUnavailable(f"ClickHouse at {redact(dsn)} cannot be reached: {exc}") from exc
    except DriverError as exc:
        raise ClickHouseError(f"ClickHouse at {redact(dsn)} refused the connection: {exc}") from exc


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def clickhouse_message(exc: BaseException) -> str:
    """ClickHouse's own message for a refused statement, without the driver's wrapping."""
    text = str(exc)
    start = text.find("Code: ")
    return (text[start:] if start >= 0 else text).strip()
