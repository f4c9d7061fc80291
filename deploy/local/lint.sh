#!/usr/bin/env bash
# The house rules: ruff (lint and import order) over the whole tree, mypy (strict) over the
# ucwatch package. Sets up what is missing first.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$REPO_DIR/deploy/local/setup.sh"
cd "$REPO_DIR"
echo "lint: ruff"
.venv/bin/ruff check .
echo "lint: mypy"
.venv/bin/mypy
