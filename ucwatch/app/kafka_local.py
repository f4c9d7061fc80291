"""Thin bridge from Python to the local Kafka script, deploy/local/kafka.sh.

`ucwatch kafka start|stop|status` calls `run`; the script does the work (fetching the
broker jars with Maven, KRaft configs, formatting, starting, waiting, stopping). Its
output streams straight to the caller's terminal and its exit code is returned unchanged
(for `status`: 0 all nodes run, 1 some, 3 none).

The script is looked up in UCWATCH_DEPLOY_DIR when set (a folder holding kafka.sh, or the
deploy folder holding local/kafka.sh), else in `deploy_local/` of this package (in a
checkout, a link to deploy/local; in an installed wheel, a copy of its Kafka files).
It honours UCWATCH_KAFKA_HOME, UCWATCH_KAFKA_PORT and UCWATCH_KAFKA_CACHE; see
deploy/local/README.md.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CONTROLLER_PORT_OFFSET = 1000
"""Each node's controller listens on its broker port + this offset (as in kafka.sh)."""


def script_path() -> Path:
    """The kafka.sh to run; raises FileNotFoundError naming where it looked."""
    override = os.environ.get("UCWATCH_DEPLOY_DIR")
    if override:
        base = Path(override)
        candidates = [base / "kafka.sh", base / "local" / "kafka.sh"]
    else:
        candidates = [Path(__file__).with_name("deploy_local") / "kafka.sh"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "deploy/local/kafka.sh not found (looked at "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall ucwatch or set UCWATCH_DEPLOY_DIR")


def run(command: list[str]) -> int:
    """Runs kafka.sh with `command` (e.g. ["start", "--brokers", "3"]); returns its exit code."""
    return subprocess.call(["bash", str(script_path()), *command])


def bootstrap_servers(brokers: int = 1, port: int = 9092) -> str:
    """The bootstrap string kafka.sh prints: brokers on 127.0.0.1:port .. port+brokers-1."""
    if brokers not in (1, 3):
        raise ValueError(f"brokers must be 1 or 3, not {brokers}")
    return ",".join(f"127.0.0.1:{port + i}" for i in range(brokers))
