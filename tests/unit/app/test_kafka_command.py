"""`ucwatch kafka`: what reaches deploy/local/kafka.sh (--secure, the three-node cluster,
client-env), what is refused before, and that the script says which kind of setup it runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from ucwatch.app import cli, kafka_local
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.settings import Settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def script_calls(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(command: list[str], settings: Settings) -> int:
        calls.append(command)
        return 0

    monkeypatch.setattr(kafka_local, "run", run)
    return calls


@pytest.mark.parametrize("argv,command", [
    (["kafka", "start", "--secure"], ["start", "--secure"]),
    (["kafka", "start", "--brokers", "3", "--secure"], ["start", "--brokers", "3", "--secure"]),
    (["kafka", "start"], ["start"]),
    (["kafka", "client-env", "--principal", "ucwatch-worker"], ["client-env", "ucwatch-worker"]),
])
def test_the_options_reach_the_script(argv: list[str], command: list[str], script_calls: list[list[str]]) -> None:
    assert cli.main(argv) == ExitCode.OK
    assert script_calls == [command]


@pytest.mark.parametrize("argv,message", [
    (["kafka", "stop", "--secure"], "--secure goes with start"),
    (["kafka", "client-env"], "client-env needs --principal"),
    (["kafka", "status", "--principal", "ucwatch-worker"], "--principal goes with client-env only"),
])
def test_options_out_of_place_are_refused(argv: list[str], message: str, script_calls: list[list[str]],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert script_calls == []


def test_the_script_says_at_every_start_which_kind_of_setup_runs() -> None:
    script = (REPO / "deploy" / "local" / "kafka.sh").read_text()
    start = script[script.index("cmd_start() {"):script.index("say_mode() {")]
    # once for a new or stopped home, once when it already runs
    assert len(re.findall(r"^\s*say_mode$", start, re.MULTILINE)) == 2
    mode = script[script.index("say_mode() {"):script.index("cmd_client_env() {")]
    assert "WARNING: insecure: PLAINTEXT, no authentication, no ACLs" in mode
    assert "secured: TLS" in mode


def test_the_script_creates_the_acls_with_this_python(tmp_path: Path) -> None:
    # kafka.sh's own guess (<repo>/.venv) is wrong through the package's link and in a wheel
    settings = Settings(data_dir=tmp_path)
    assert kafka_local.script_environment(settings, {})["UCWATCH_PYTHON"] == sys.executable
    assert kafka_local.script_environment(settings, {"UCWATCH_PYTHON": "/opt/py"})["UCWATCH_PYTHON"] == "/opt/py"
    Settings.load(environ={"UCWATCH_PYTHON": "/opt/py"})  # not taken for a setting
