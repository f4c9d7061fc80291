#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite. The tests start their own Kafka
# broker (deploy/local/kafka.sh, in a temporary folder on a free port) and stop it after.
# Arguments are passed to pytest, e.g. deploy/local/test.sh -k contract
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$REPO_DIR/deploy/local/setup.sh"
cd "$REPO_DIR"
exec "$REPO_DIR/.venv/bin/python" -m pytest "$@"
