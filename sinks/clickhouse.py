"""Connections to ClickHouse, embedded (chDB) or a server, for the two roles ucwatch has.

- ``writer``: the sink and the migrations. On a server this is the DSN's user.
- ``analyst``: read-only and limited. The engine enforces it: the connection sets the
  analysts' limits (`analyst_settings`: time, memory, result rows) and then ``readonly=1``,
  which forbids changing any setting afterwards, so no query can lift them. A server may
  instead give analysts their own read-only user through ``clickhouse.analyst_dsn``, whose
  settings profile holds the limits (deploy/clickhouse/users.sql).

An embedded store's directory is made private (0700) before the engine opens it; the
files the engine creates in it are private when the process runs under
`ucwatch.core.files.private_umask`.

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

from ucwatch.core.files import ensure_private_dir
from ucwatch.core.settings import Settings, redact_text
from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, ClickHouseUnavailable, StoreInUse, from_driver

Role = Literal["writer", "analyst"]

READ_ONLY = {"readonly": 1}
_STATUS_PID = re.compile(r"^PID:\s*(\d+)\s*$", re.MULTILINE)
_OS_REASON = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


def analyst_settings(settings: Settings) -> dict[str, Any]:
    """The analyst connection's settings: the limits, then ``readonly=1`` (last: once it is
    set, no setting can be changed, these included)."""
    limits = settings.clickhouse
    return {"max_execution_time": limits.analyst_max_execution_s,
            "max_memory_usage": limits.analyst_max_memory_bytes,
            "max_result_rows": limits.analyst_max_result_rows,
            "result_overflow_mode": "throw", "timeout_overflow_mode": "throw", **READ_ONLY}


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def store_path(dsn: str) -> str:
    """The directory of an embedded store (``chdb:///abs/path`` -> ``/abs/path``)."""
    return dsn[len("chdb://"):]


def connect(settings: Settings, role: Role = "writer", *, database: str | None = None,
            limited: bool = True) -> Client:
    """A clickhouse-connect client for `role`; `database` defaults to the configured one.

    Pass ``database=""`` to connect before the database exists (migrations create it).
    ``limited=False`` gives an analyst connection without the analysts' limits (still
    read-only): for ucwatch's own look-ups on analysts' behalf (the guard's parse and
    catalog), never for an analyst's query.
    """
    dsn = settings.clickhouse_dsn
    database = settings.clickhouse.database if database is None else database
    extra: dict[str, Any] = {}
    if role == "analyst":
        if settings.clickhouse.analyst_dsn and not is_embedded(dsn):
            dsn = settings.clickhouse.analyst_dsn
        else:
            extra["settings"] = analyst_settings(settings) if limited else dict(READ_ONLY)
    if is_embedded(dsn):
        ensure_private_dir(Path(store_path(dsn)))
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
        raise _failure(exc, dsn) from exc


def _failure(exc: Exception, dsn: str) -> ClickHouseError:
    """The error for a server that could not be connected to: the DSN without its secrets
    and the operating system's reason, not the HTTP library's page of text."""
    where = f"ClickHouse at {redact_text(dsn)}"
    error = from_driver(exc, where)
    if isinstance(error, ClickHouseUnavailable) and error.code is None:
        found = _OS_REASON.search(str(exc))
        reason = found.group(0).strip() if found else type(exc).__name__
        return ClickHouseUnavailable(f"{where} cannot be reached ({reason})")
    if type(error) in (ClickHouseError, ClickHouseUnavailable):
        return type(error)(redact_text(error.message), code=error.code, name=error.name)
    return error


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
    """The DSN without its secrets (password, ``?password=``), for messages."""
    return redact_text(dsn)
