"""Detection's hot modules compiled with mypyc, and the guard that never lets a stale build run.

    python -m ucwatch.core.native_build           # deploy/local/setup.sh runs it (`ensure`)
    python -m ucwatch.core.native_build status    # compiled, or pure Python and why
    UCWATCH_PURE_PYTHON=1                          # run the sources even where a build is present

Why: ucwatch's own detection work per record (decode, engine, encoders, state) stayed over
the 60 µs of CPU asked for in pure Python, with a profile flat after the engine's own
frames. mypyc compiles the same modules, unchanged in meaning, to C (docs/detect.md,
"Compiled with mypyc"). The sources stay the reference: the build is made from them, and
tests/unit/streams/test_native.py checks that both give the same bytes on a simulated
history.

The build puts one extension beside each module's source, the group's shared library and
a manifest of the sources' digests here. When `ucwatch` is imported, a build whose
manifest does not match the sources (a module edited since) is not used: every module of
the group is loaded from its source, and `status()` says why. All or nothing, because the
compiled modules call each other natively and cannot be mixed with sources.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MODULES = tuple(f"ucwatch.schemas.{name}" for name in ("wire", "fastpath", "fastread")) + tuple(
    f"ucwatch.streams.{name}" for name in ("ids", "durations", "lifecycle", "state", "state_codec", "compiled",
                                           "derive", "engine", "records", "watermarks", "feed_alerts",
                                           "processor"))
"""What a worker runs per record: the Avro codecs' helpers and the engine's step, imports
pointing down this list. The glue around them (faust, Kafka) stays Python: it is where
the libraries and the tests reach in."""
GROUP = "ucwatch.core._native"
PURE_PYTHON_ENV = "UCWATCH_PURE_PYTHON"
MANIFEST = ".native-build.json"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The `ucwatch` package directory; module `ucwatch.a.b` is `a/b.py` under it."""


def source_of(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def manifest_path(package_dir: Path = PACKAGE_DIR) -> Path:
    return package_dir / "core" / MANIFEST


def digests(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    return {m: hashlib.sha256(source_of(m, package_dir).read_bytes()).hexdigest() for m in MODULES}


def extensions(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The build's files present: each module's extension and the group's library."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    stems = [source_of(m, package_dir).with_suffix("") for m in (*MODULES, f"{GROUP}__mypyc")]
    return [Path(f"{stem}{suffix}") for stem in stems for suffix in suffixes if Path(f"{stem}{suffix}").exists()]


def stale_reason(package_dir: Path = PACKAGE_DIR) -> str | None:
    """Why the build under `package_dir` must not be used (None: it matches its sources,
    or there is none)."""
    if not extensions(package_dir):
        return None
    try:
        manifest = json.loads(manifest_path(package_dir).read_text())
    except (OSError, ValueError):
        return f"the compiled modules have no readable {MANIFEST}"
    built = manifest.get("sources", {})
    changed = [m.rsplit(".", 1)[1] for m, digest in digests(package_dir).items() if built.get(m) != digest]
    if changed:
        return f"{', '.join(changed)} changed since the compiled modules were built"
    return None


class _SourceFinder:
    """Loads the group's modules from their .py files, ahead of the extensions beside them."""

    def __init__(self, package_dir: Path, reason: str) -> None:
        self.package_dir = package_dir
        self.reason = reason

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name not in MODULES:
            return None
        return importlib.util.spec_from_file_location(name, source_of(name, self.package_dir))


def select(package_dir: Path = PACKAGE_DIR) -> None:
    """Called by `ucwatch` before any module of the group is imported: keeps a stale build
    (or, with UCWATCH_PURE_PYTHON=1, any build) from being loaded."""
    if not extensions(package_dir) or _source_finder() is not None:
        return
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        reason: str | None = f"{PURE_PYTHON_ENV} is set"
    else:
        reason = stale_reason(package_dir)
    if reason is not None:
        sys.meta_path.insert(0, _SourceFinder(package_dir, reason))


def _source_finder() -> _SourceFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _SourceFinder)), None)


def compiled() -> bool:
    """Whether the engine that runs (or would be imported) is the compiled one."""
    spec = importlib.util.find_spec("ucwatch.streams.engine")
    return spec is not None and not (spec.origin or "").endswith(".py")


def status() -> str:
    """One line for the logs and the benchmarks: which engine runs, and why."""
    if compiled():
        return "compiled (mypyc)"
    finder = _source_finder()
    if finder is not None and finder.reason.startswith(PURE_PYTHON_ENV):
        return f"pure Python ({finder.reason})"
    if finder is not None:
        return f"pure Python ({finder.reason}; `python -m ucwatch.core.native_build` compiles it again)"
    return "pure Python (not built: `python -m ucwatch.core.native_build` compiles it)"
