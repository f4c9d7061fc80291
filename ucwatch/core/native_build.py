"""Compiles detection's hot modules with mypyc (ucwatch/core/native.py says why and which).

    python -m ucwatch.core.native_build           # or `build`: needs mypy (the dev extra) and gcc
    python -m ucwatch.core.native_build ensure    # build unless a build matching the sources is there
    python -m ucwatch.core.native_build status
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ucwatch.core.native import (
    GROUP,
    MODULES,
    PACKAGE_DIR,
    digests,
    extensions,
    manifest_path,
    source_of,
    stale_reason,
    status,
)


def build() -> list[Path]:
    """Compiles the group from the sources and puts each extension beside its source, the
    group's library and the manifest in ucwatch/core; returns the files written."""
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    for old in extensions():   # unlinked, not overwritten: a running process keeps its copy
        old.unlink()
    manifest_path().unlink(missing_ok=True)
    sources = digests()
    root = PACKAGE_DIR.parent   # mypy names the modules from the paths under it
    cwd = os.getcwd()
    written = []
    with tempfile.TemporaryDirectory(prefix="ucwatch-native-") as work:
        os.chdir(root)
        try:
            group = mypycify([str(source_of(m).relative_to(root)) for m in MODULES], group_name=GROUP,
                             target_dir=f"{work}/c")
            # a bare Distribution: setup() would read pyproject.toml, which older setuptools refuse
            distribution = Distribution({"name": "ucwatch-native", "ext_modules": group})
            command = distribution.get_command_obj("build_ext")
            command.build_lib, command.build_temp = f"{work}/lib", f"{work}/temp"
            distribution.run_command("build_ext")
        finally:
            os.chdir(cwd)
        for built in sorted(Path(work, "lib").rglob("*.so")):
            target = PACKAGE_DIR / built.relative_to(Path(work, "lib", PACKAGE_DIR.name))
            shutil.copy2(built, target)
            written.append(target)
    manifest = {"sources": sources, "python": sys.version.split()[0]}
    manifest_path().write_text(json.dumps(manifest, indent=1) + "\n")
    return [*written, manifest_path()]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in ([], ["build"]):
        for path in build():
            print(f"native: wrote {path}")
        return 0
    if args == ["ensure"]:
        if extensions() and stale_reason() is None:
            print(f"native: up to date ({len(extensions())} files)")
            return 0
        return main(["build"])
    if args == ["status"]:
        print(f"detection engine: {status()}")
        return 0
    print("usage: python -m ucwatch.core.native_build [build|ensure|status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
