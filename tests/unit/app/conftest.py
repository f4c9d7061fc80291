"""Fixtures of the command-line tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean UCWATCH_ environment whose data folder is private to the test."""
    for name in [n for n in os.environ if n.startswith("UCWATCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UCWATCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
