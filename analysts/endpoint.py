"""The endpoint file of a query service: where it listens and with which token.

Next to the embedded store directory (``<store dir>.query.json``): port, pid and a random
bearer token, mode 0600, written atomically by the service and removed when it stops.
A client uses it only when it is private to this user and names a live process.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import is_embedded, store_path
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable

log = logging.getLogger("ucwatch.query_service")

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    port: int
    pid: int
    token: str
    store: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/query"


def endpoint_path(settings: Settings) -> Path:
    """Where the service of an embedded store writes its endpoint: next to the store directory."""
    dsn = settings.clickhouse_dsn
    if not is_embedded(dsn):
        raise ClickHouseError("the query service is for an embedded (chdb://) store only")
    return Path(os.path.realpath(store_path(dsn)) + ".query.json")


def read_endpoint(settings: Settings) -> Endpoint | None:
    """The endpoint of a running service for this store, or None (no file, or its process is gone)."""
    path = endpoint_path(settings)
    try:
        info = path.stat()
        text = path.read_text()
    except FileNotFoundError:
        return None
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise ClickHouseUnavailable(
            f"the query service endpoint {path} is not private to this user (owner uid "
            f"{info.st_uid}, mode {stat.S_IMODE(info.st_mode):o}); not using it")
    try:
        data = json.loads(text)
        endpoint = Endpoint(int(data["port"]), int(data["pid"]), str(data["token"]), str(data["store"]))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring the malformed query service endpoint %s", path)
        return None
    return endpoint if _alive(endpoint.pid) else None


def write_endpoint(path: Path, endpoint: Endpoint, **extra: Any) -> None:
    """Writes the endpoint file atomically, readable by this user only."""
    data = {"port": endpoint.port, "pid": endpoint.pid, "token": endpoint.token, "store": endpoint.store, **extra}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def remove_endpoint(path: Path, token: str) -> None:
    """Removes the endpoint file if it is still the one with `token` (not a newer service's)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if token and isinstance(data, dict) and data.get("token") == token:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
