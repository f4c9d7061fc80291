#!/usr/bin/env bash
# Proves the package works without the source tree: builds the wheel, installs it with every
# extra into a fresh virtual environment in a temporary folder outside the checkout, and runs
# `ucwatch demo` from there (its own Kafka on port 19092, embedded ClickHouse in that folder).
# Needs what deploy/local/setup.sh installs (Python 3.11 with the dev extra, Java, Maven, the
# cached Kafka jars). Arguments are passed to `ucwatch demo`, e.g. --children 200.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { echo "installed-demo: $*"; }

work=$(mktemp -d /tmp/ucwatch-installed.XXXXXX)
trap 'rm -rf "$work"' EXIT

say "building the wheel"
"$REPO_DIR/.venv/bin/python" -m build --wheel --outdir "$work/dist" "$REPO_DIR" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/ucwatch-*.whl)
say "built $(basename "$wheel")"

say "installing it with every extra into $work/venv"
"$REPO_DIR/.venv/bin/python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[all]"

cd "$work"  # nothing of the checkout is importable from here
"$work/venv/bin/python" - "$REPO_DIR" <<'PY'
import sys, pathlib, ucwatch, ucwatch.sinks.migrate as m
repo = pathlib.Path(sys.argv[1]).resolve()
where = pathlib.Path(ucwatch.__file__).resolve()
assert repo not in where.parents, f"ucwatch imported from the checkout: {where}"
assert len(list(m.MIGRATIONS_DIR.glob("V*.sql"))) >= 4, "migrations missing from the wheel"
print(f"installed-demo: ucwatch {ucwatch.__version__} from {where.parent}")
PY
"$work/venv/bin/ucwatch" --version
"$work/venv/bin/ucwatch" demo "$@"
