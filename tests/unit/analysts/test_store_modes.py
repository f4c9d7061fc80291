"""The embedded store is private to the user running ucwatch: created 0700 / 0600 by a real
`ucwatch migrate` (chDB creating its files under the process's umask), and an older store
left world-readable is closed when it is next opened."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from ucwatch.core.files import ensure_private_dir
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect

REPO = Path(__file__).resolve().parents[3]


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if not stat.S_ISLNK(info.st_mode):  # a link's own mode is always 777 and grants nothing
                found[str(path.relative_to(root))] = stat.S_IMODE(info.st_mode)
    return found


def test_a_fresh_store_is_private(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")} | {
        "UCWATCH_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "migrate"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    found = modes(tmp_path / "data")
    assert len(found) > 20  # the store's folders and files, not only the data folder
    exposed = {name: f"{mode:o}" for name, mode in found.items() if mode & 0o077}
    assert exposed == {}


def test_a_world_readable_store_is_closed_when_opened(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = tmp_path / "data" / "clickhouse"
    connect(settings, "writer", database="").close()
    store.chmod(0o755)  # as stores were made before
    connect(settings, "writer", database="").close()
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


def test_ensure_private_dir_creates_and_tightens(tmp_path: Path) -> None:
    fresh = ensure_private_dir(tmp_path / "a")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    fresh.chmod(0o775)
    assert stat.S_IMODE(ensure_private_dir(fresh).stat().st_mode) == 0o700
