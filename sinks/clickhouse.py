"""Connections to ClickHouse, embedded (chDB) or a server, for the two roles ucwatch has.

- ``writer``: the sink and the migrations. On a server this is the DSN's user.
- ``analyst``: read-only. The engine enforces it: the connection carries ``readonly=1``,
  which also forbids changing that setting back (a server may instead give analysts their
  own read-only user through ``clickhouse.analyst_dsn``).

An embedded store is one directory that one process at a time can open: the engine holds
a lock on its ``status`` file, which names the process. A second process trying gets
`StoreInUse` with that process id instead of chDB's bare "Error initializing EmbeddedServer".
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import Any, Literal

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, StoreInUse, from_driver

Role = Literal["writer", "analyst"]

READ_ONLY = {"readonly": 1}
_STATUS_PID = re.compile(r"^PID:\s*(\d+)\s*$", re.MULTILINE)


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
    except FOREIGN_ERRORS as exc:
        if is_embedded(dsn):
            holder = store_holder(Path(store_path(dsn)))
            if holder is not None:
                raise StoreInUse(store_path(dsn), f"pid {holder}" if holder else "its lock is held") from exc
            raise ClickHouseError(f"cannot open the embedded ClickHouse store {store_path(dsn)}: {exc}") from exc
        raise from_driver(exc, f"ClickHouse at {redact(dsn)}") from exc


def store_holder(store: Path) -> int | None:
    """The process holding the embedded store open (its lock on ``status``; 0 when the file
    does not name it), or None when no process holds it."""
    try:
        fd = os.open(store / "status", os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with os.fdopen(os.dup(fd)) as status:
                found = _STATUS_PID.search(status.read())
            return int(found.group(1)) if found else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
