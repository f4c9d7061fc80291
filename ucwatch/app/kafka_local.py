"""Thin bridge from Python to the local Kafka script, deploy/local/kafka.sh.

`ucwatch kafka start|stop|status` calls `run`; the script does the work (fetching the
broker jars with Maven, KRaft configs, formatting, starting, waiting, stopping). Its
output streams straight to the caller's terminal and its exit code is returned unchanged
(for `status`: 0 all nodes run, 1 some, 3 none).

The broker's home (configs, data, logs) is UCWATCH_KAFKA_HOME when set, else
`<data_dir>/kafka` of the settings: the script's own default lies two folders above the
script, which in an installed wheel is site-packages.

The script is looked up in UCWATCH_DEPLOY_DIR when set (a folder holding kafka.sh, or the
deploy folder holding local/kafka.sh), else in `deploy-local/` of this package (in a
checkout, a link to deploy/local; in an installed wheel, a copy of its Kafka files).
It honours UCWATCH_KAFKA_HOME, UCWATCH_KAFKA_PORT and UCWATCH_KAFKA_CACHE; see
deploy/local/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ucwatch.core.errors import UcwatchError
from ucwatch.core.settings import Settings

CONTROLLER_PORT_OFFSET = 1000
"""Each node's controller listens on its broker port + this offset (as in kafka.sh)."""


class KafkaScriptMissing(UcwatchError):
    """The local Kafka script is not where this installation keeps it."""

    def __init__(self, candidates: list[Path]) -> None:
        super().__init__("the local Kafka script kafka.sh was not found (looked at "
                         + ", ".join(str(c) for c in candidates)
                         + "); reinstall ucwatch, or set UCWATCH_DEPLOY_DIR to a folder holding kafka.sh")
        self.candidates = candidates


def script_path() -> Path:
    """The kafka.sh to run; raises KafkaScriptMissing naming where it looked."""
    override = os.environ.get("UCWATCH_DEPLOY_DIR")
    if override:
        base = Path(override)
        candidates = [base / "kafka.sh", base / "local" / "kafka.sh"]
    else:
        candidates = [Path(__file__).with_name("deploy-local") / "kafka.sh"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise KafkaScriptMissing(candidates)


def script_environment(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The script's environment: this one, with UCWATCH_KAFKA_HOME under the data folder and
    UCWATCH_PYTHON this Python (which has ucwatch: `start --secure` runs
    `python -m ucwatch.core.kafka_acls` with it) unless they are set."""
    environment = dict(os.environ if environ is None else environ)
    if not environment.get("UCWATCH_KAFKA_HOME"):
        environment["UCWATCH_KAFKA_HOME"] = str((settings.data_dir / "kafka").resolve())
    if not environment.get("UCWATCH_PYTHON"):
        environment["UCWATCH_PYTHON"] = sys.executable
    return environment


def run(command: list[str], settings: Settings) -> int:
    """Runs kafka.sh with `command` (e.g. ["start", "--brokers", "3"]); returns its exit code."""
    return subprocess.call(["bash", str(script_path()), *command], env=script_environment(settings))


def bootstrap_servers(brokers: int = 1, port: int = 9092) -> str:
    """The bootstrap string kafka.sh prints: brokers on 127.0.0.1:port .. port+brokers-1."""
    if brokers not in (1, 3):
        raise ValueError(f"brokers must be 1 or 3, not {brokers}")
    return ",".join(f"127.0.0.1:{port + i}" for i in range(brokers))
