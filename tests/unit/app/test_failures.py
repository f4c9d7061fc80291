"""How a failed command ends: each kind of error has its exit code and a message for people;
a bug is one line on the terminal and a traceback in the log."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from ucwatch.app import cli
from ucwatch.app.failures import classify, write_internal_log
from ucwatch.core.errors import (
    AuditNotWritten,
    ContractError,
    DeliveryError,
    InputFileError,
    KafkaUnavailable,
    PseudonymKeyError,
    RegistryError,
    SettingsError,
    TopicMissing,
    UsageError,
)
from ucwatch.core.exit_codes import ExitCode
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable, MigrationError, StoreInUse


@pytest.mark.parametrize("error,code", [
    (KafkaUnavailable("127.0.0.1:1", 3, "Connection refused"), ExitCode.UNREACHABLE),
    (ClickHouseUnavailable("ClickHouse at http://h:1 cannot be reached"), ExitCode.UNREACHABLE),
    (StoreInUse("/data/clickhouse", "locked"), ExitCode.UNREACHABLE),
    (RegistryError("schema registry http://h:1 unreachable"), ExitCode.UNREACHABLE),
    (TimeoutError("ucwatch.alerts: reached {} of {0: 3}"), ExitCode.UNREACHABLE),
    (KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused")), ExitCode.UNREACHABLE),
    (DeliveryError(2, "Message timed out"), ExitCode.UNDELIVERED),
    (AuditNotWritten("read_alerts", "Message timed out"), ExitCode.UNDELIVERED),
    (ContractError("bad_enum", "outcome: 'MAYBE' is not one of ..."), ExitCode.REJECTED),
    (ClickHouseError("Code: 62. Syntax error"), ExitCode.REJECTED),
    (SettingsError("unknown setting kafka.bootstrapp"), ExitCode.USAGE),
    (UsageError("say where the history goes"), ExitCode.USAGE),
    (InputFileError("missing.jsonl: no such file"), ExitCode.USAGE),
    (PseudonymKeyError("no pseudonymization key"), ExitCode.USAGE),
    (TopicMissing("ucwatch.alerts", "Broker: Unknown topic or partition"), ExitCode.USAGE),
    (MigrationError("V002 was edited"), ExitCode.USAGE),
    (KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")), ExitCode.USAGE),
    (FileNotFoundError(2, "No such file or directory", "/nonexistent/x.jsonl"), ExitCode.USAGE),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED),
])
def test_each_error_kind_has_its_exit_code(error: BaseException, code: ExitCode) -> None:
    classified = classify(error)
    assert classified is not None
    assert classified[0] is code
    assert classified[1] and "\n" not in classified[1]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("x"), AttributeError("y")])
def test_a_bug_is_not_classified(error: BaseException) -> None:
    assert classify(error) is None


def test_no_librdkafka_repr_and_no_password_in_a_message() -> None:
    _, message = classify(KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))) or (0, "")
    assert "KafkaError{" not in message and "Connection refused" in message
    _, message = classify(ClickHouseUnavailable("ClickHouse at http://bob:s3cret@h:1 cannot be reached")) or (0, "")
    assert "s3cret" not in message and "bob:****@h:1" in message
    _, message = classify(FileNotFoundError(2, "No such file or directory", "x.jsonl")) or (0, "")
    assert message == "x.jsonl: No such file or directory"


def test_kafka_unavailable_says_what_did_not_happen() -> None:
    assert "nothing was published" not in str(KafkaUnavailable("h:1", 1, "refused"))
    assert "gave up before doing anything" in str(KafkaUnavailable("h:1", 1, "refused"))
    message = str(KafkaUnavailable("h:1", 1, "refused", before="reading ucwatch.alerts"))
    assert "after 1 attempt (refused); gave up before reading ucwatch.alerts" in message


def test_the_internal_log_is_private_and_holds_the_traceback(tmp_path: Path) -> None:
    try:
        raise RuntimeError("boom with http://bob:s3cret@h:1")
    except RuntimeError as error:
        path = write_internal_log(tmp_path / "data", error, ["settings"])
    text = path.read_text()
    assert "Traceback" in text and "RuntimeError: boom" in text and "ucwatch settings" in text
    assert "s3cret" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def _failing(error: BaseException) -> cli.Command:
    def command(args: object, settings: object) -> int:
        raise error
    return command


def test_a_bug_ends_as_one_line_and_the_log(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.COMMANDS, "settings", _failing(RuntimeError("boom")))
    assert cli.main(["settings"]) == ExitCode.INTERNAL
    error = capsys.readouterr().err
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    log = data_dir.resolve() / "logs" / "internal-errors.log"
    assert f"internal error (a bug): RuntimeError: boom; the traceback is in {log}" in error
    assert "Traceback" in log.read_text()


def test_verbose_shows_the_traceback(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.COMMANDS, "settings", _failing(RuntimeError("boom")))
    assert cli.main(["-v", "settings"]) == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("error,code,text", [
    (KafkaUnavailable("h:1", 2, "refused", before="listing topics"), ExitCode.UNREACHABLE, "before listing topics"),
    (KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused")), ExitCode.UNREACHABLE,
     "Kafka: Connection refused"),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
])
def test_a_known_error_ends_as_its_exit_code_and_one_line(
        error: BaseException, code: ExitCode, text: str, *, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.COMMANDS, "settings", _failing(error))
    assert cli.main(["settings"]) == code
    error_text = capsys.readouterr().err
    assert text in error_text and "Traceback" not in error_text
    assert len(error_text.strip().splitlines()) == 1


def test_a_bad_settings_file_is_a_usage_error(data_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka\n")
    assert cli.main(["--config", str(bad), "settings"]) == ExitCode.USAGE
    assert cli.main(["--config", str(tmp_path), "settings"]) == ExitCode.USAGE
    error = capsys.readouterr().err
    assert "is not valid TOML" in error and "cannot be read" in error and "Traceback" not in error


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env["UCWATCH_DATA_DIR"] = str(tmp_path)
    reader = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "simulate", "--children", "300",
                               "--out", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b'{"event_id"')
    reader.stdout.close()
    assert reader.wait(120) == ExitCode.OK
    assert b"Traceback" not in reader.stderr.read()
    reader.stderr.close()


def test_a_missing_optional_dependency_names_the_extra_to_install() -> None:
    error = ModuleNotFoundError("No module named 'faust'", name="faust")
    code, message = classify(error) or (None, "")
    assert code == ExitCode.USAGE
    assert "pip install 'ucwatch[workers]'" in message
    assert classify(ModuleNotFoundError("No module named 'ucwatch.x'", name="ucwatch.x")) is None
