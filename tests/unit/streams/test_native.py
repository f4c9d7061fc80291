"""The compiled engine (ucwatch/core/native.py) runs where it was built, gives the same bytes
as its sources, and is never used once a source changed since the build."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ucwatch.core import native

REPO = Path(__file__).resolve().parents[3]
BUILD_HINT = "deploy/local/setup.sh builds it; after an edit: .venv/bin/python -m ucwatch.core.native_build"


def replay(children: int, *, pure: bool) -> tuple[str, str, int]:
    """(the engine that ran, the digest of its outputs and states, alert changes) of
    tests/unit/streams/native_replay.py in a process of its own."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_ENV}
    if pure:
        env[native.PURE_PYTHON_ENV] = "1"
    done = subprocess.run([sys.executable, "-m", "tests.unit.streams.native_replay", str(children)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True)
    engine, result = done.stdout.strip().splitlines()[-2:]
    sha, alerts = result.split()
    return engine, sha, int(alerts)


def test_the_engine_that_runs_is_the_compiled_one() -> None:
    assert native.compiled(), f"{native.status()}: {BUILD_HINT}"


def test_compiled_and_pure_python_give_the_same_bytes_on_a_simulated_history() -> None:
    compiled_engine, compiled_sha, compiled_alerts = replay(2000, pure=False)
    pure_engine, pure_sha, pure_alerts = replay(2000, pure=True)
    assert compiled_engine == "compiled (mypyc)", f"{compiled_engine}: {BUILD_HINT}"
    assert pure_engine.startswith("pure Python")
    assert compiled_alerts > 5000   # the history raises alerts: there is something to compare
    assert (compiled_sha, compiled_alerts) == (pure_sha, pure_alerts)


@pytest.fixture
def build_copy(tmp_path: Path) -> Path:
    """A package directory holding the group's sources, a stand-in extension and a manifest
    that matches them."""
    for module in native.MODULES:
        target = native.source_of(module, tmp_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(native.source_of(module), target)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    native.source_of("ucwatch.streams.derive", tmp_path).with_suffix(suffix).write_bytes(b"")
    native.manifest_path(tmp_path).parent.mkdir(exist_ok=True)
    native.manifest_path(tmp_path).write_text(json.dumps({"sources": native.digests(tmp_path)}))
    return tmp_path


def test_a_build_that_matches_its_sources_is_used(build_copy: Path) -> None:
    assert native.stale_reason(build_copy) is None


def test_a_source_edited_after_the_build_keeps_the_build_from_running(build_copy: Path) -> None:
    with native.source_of("ucwatch.streams.lifecycle", build_copy).open("a") as source:
        source.write("\n# edited\n")
    assert native.stale_reason(build_copy) == "lifecycle changed since the compiled modules were built"


def test_a_build_without_its_manifest_is_not_used(build_copy: Path) -> None:
    native.manifest_path(build_copy).unlink()
    assert native.stale_reason(build_copy) == f"the compiled modules have no readable {native.MANIFEST}"


def test_no_build_is_nothing_to_refuse(build_copy: Path) -> None:
    for extension in native.extensions(build_copy):
        extension.unlink()
    assert native.stale_reason(build_copy) is None


def test_the_finder_loads_the_groups_modules_from_their_sources_only(build_copy: Path) -> None:
    finder = native._SourceFinder(build_copy, "a reason")
    spec = finder.find_spec("ucwatch.streams.derive")
    assert spec is not None and spec.origin == str(build_copy / "streams" / "derive.py")
    spec = finder.find_spec("ucwatch.schemas.fastread")
    assert spec is not None and spec.origin == str(build_copy / "schemas" / "fastread.py")
    assert finder.find_spec("ucwatch.streams.app") is None    # not in the group
    assert finder.find_spec("ucwatch.sinks.derive") is None


def test_a_stale_build_runs_every_module_of_the_group_from_source(build_copy: Path) -> None:
    """A process that finds a source changed since the build imports no module of the group
    from an extension, not only the changed one: compiled modules call each other natively.
    (The probe takes the finder `ucwatch` installed, if any, out and points the guard at the
    copy before any module of the group is imported.)"""
    with native.source_of("ucwatch.streams.state", build_copy).open("a") as source:
        source.write("\n# edited\n")
    probe = ("import importlib, sys; from pathlib import Path; from ucwatch.core import native;"
             f"native.select(Path({str(build_copy)!r}));"
             "modules = [importlib.import_module(m) for m in native.MODULES];"
             "print(native.status());"
             f"print(all(Path(m.__file__).is_relative_to({str(build_copy)!r}) for m in modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True, env={k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_ENV})
    status, all_from_the_copy = done.stdout.strip().splitlines()
    assert status.startswith("pure Python (state changed since the compiled modules were built")
    assert all_from_the_copy == "True"
