"""Where a query service listens: a Unix socket beside the embedded store.

``<store dir>.query.sock``, mode 0660 in the data folder (0700 unless an administrator
opens it to a group: docs/analysts.md). The socket exists while the service runs; a
socket left by a killed sink refuses connections (the client then opens the store itself,
or learns who holds it) and is replaced by the next service.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import is_embedded, store_path
from ucwatch.sinks.errors import ClickHouseError

SOCKET_MODE = 0o660


@dataclass(frozen=True)
class Endpoint:
    socket: str
    store: str

    @property
    def url(self) -> str:
        """The URL asked over the socket (the host name is only a label)."""
        return "http://ucwatch-query-service/query"


def endpoint_path(settings: Settings) -> Path:
    """The socket of the service of an embedded store: next to the store directory."""
    dsn = settings.clickhouse_dsn
    if not is_embedded(dsn):
        raise ClickHouseError("the query service is for an embedded (chdb://) store only")
    return Path(os.path.realpath(store_path(dsn)) + ".query.sock")


def read_endpoint(settings: Settings) -> Endpoint | None:
    """The endpoint of this store's service, or None when there is no socket."""
    path = endpoint_path(settings)
    try:
        info = path.stat()
    except (FileNotFoundError, PermissionError):
        return None
    if not stat.S_ISSOCK(info.st_mode):
        return None
    return Endpoint(str(path), str(path)[:-len(".query.sock")])
