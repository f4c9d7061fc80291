"""Who sent a query to the query service: the kernel says, not the client.

The service listens on a Unix socket; ``SO_PEERCRED`` gives the process id, user id and
group id of the process at the other end, as the kernel recorded them when it connected.
The audit entry of a served query names that user (its login name from the password
database, else ``uid:N``), never an environment variable. Linux only (as is the service).
"""

from __future__ import annotations

import os
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import Any

from ucwatch.core.audit import audit_entry

_CREDENTIALS = struct.Struct("3i")


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int

    @property
    def user(self) -> str:
        return user_name(self.uid)


def peer_of(connection: socket.socket) -> Peer:
    """The credentials of the process connected at the other end of a Unix socket."""
    pid, uid, gid = _CREDENTIALS.unpack(
        connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size))
    return Peer(pid, uid, gid)


def user_name(uid: int) -> str:
    """The login name of `uid` in the password database, else ``uid:N`` (not $USER: the
    environment is what a process says about itself)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def query_entry(peer: Peer, query: str, fmt: str, **details: Any) -> dict[str, Any]:
    """The audit entry of one served query, the authenticated user as actor."""
    return audit_entry("sql", None, environ={"UCWATCH_ACTOR": peer.user}, os_user=peer.user, uid=peer.uid,
                       pid=peer.pid, via="query_service", query=query, format=fmt, **details)


def own_entry(query: str, fmt: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The audit entry of a query this process runs itself (no service): its own user as
    actor; what UCWATCH_ACTOR says is kept beside it, as a claim."""
    claimed = (os.environ if environ is None else environ).get("UCWATCH_ACTOR")
    me = user_name(os.getuid())
    return audit_entry("sql", None, environ={"UCWATCH_ACTOR": me}, os_user=me, uid=os.getuid(), via="direct",
                       query=query, format=fmt, **({"claimed_actor": claimed} if claimed else {}))
