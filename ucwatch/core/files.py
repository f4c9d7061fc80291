"""Files about children stay private to the user running ucwatch.

The embedded ClickHouse store, the detector's RocksDB state, the query service's socket
and everything else under the data folder hold children's records. `private_umask` makes
every file and directory the process creates afterwards private (0600 / 0700), including
those created by the engines (chDB, RocksDB) inside the process; call it first thing in
every ucwatch process that creates such files (`ucwatch.app.cli.main`).
`ensure_private_dir` creates a directory 0700, or takes group and other rights off one
that exists (a store created by an older version was 0755: nobody else may traverse it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Sets the process umask to 0o077; returns the previous one."""
    return os.umask(PRIVATE_UMASK)


def ensure_private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700), created when missing (its
    missing parents too: 0700 under `private_umask`). A directory this user does not own
    is left alone: changing it would fail, and its owner decided."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    return path
