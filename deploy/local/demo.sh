#!/usr/bin/env bash
# Sets up what is missing, then runs the full demo on the embedded defaults:
# starts a local Kafka, simulates a small calibrated history, publishes it, reads it back.
# Arguments are passed to `ucwatch demo`, e.g. deploy/local/demo.sh --children 2000
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$REPO_DIR/deploy/local/setup.sh"
cd "$REPO_DIR"
exec "$REPO_DIR/.venv/bin/ucwatch" demo "$@"
