"""Commands as a person runs them: settings without secrets, every read of a topic audited,
the local Kafka's files under the data folder, simulate's --full-scale."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ucwatch.app import cli, kafka_local
from ucwatch.core import audit, kafka_admin
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.settings import Settings

PASSWORD = "s3cret-Pa55"


def test_settings_prints_no_password(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UCWATCH_CLICKHOUSE_DSN", f"http://ucwatch:{PASSWORD}@ch.example:8443/?password={PASSWORD}")
    monkeypatch.setenv("UCWATCH_CLICKHOUSE_ANALYST_DSN", f"https://analyst:{PASSWORD}@ch.example:8443")
    assert cli.main(["settings"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert PASSWORD not in out
    assert out.count("ucwatch:****@ch.example") == 2  # the setting and the effective DSN
    assert "analyst:****@ch.example" in out
    shown = json.loads(out[:out.rindex("}") + 1])
    assert shown["clickhouse"]["dsn"] == "http://ucwatch:****@ch.example:8443/?password=****"
    assert shown["data_dir"] == str(data_dir)


def test_watch_audits_a_read_of_every_child(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(kafka_admin, "wait_for_kafka", lambda settings, **kw: calls.append(("wait", kw)))
    monkeypatch.setattr(audit, "record_access",
                        lambda settings, action, child, **details: calls.append(("audit", (action, child, details))))
    from ucwatch.app import watch
    monkeypatch.setattr(watch, "avro_renderer", lambda settings: watch.json_renderer)
    monkeypatch.setattr(watch, "print_topic",
                        lambda *args, **kw: calls.append(("print", kw)) or watch.Printed(shown=1))
    assert cli.main(["alerts"]) == ExitCode.OK
    assert cli.main(["deadletters", "--child", "CH-1"]) == ExitCode.OK
    assert [kind for kind, _ in calls] == ["wait", "audit", "print"] * 2
    assert calls[1][1] == ("read_alerts", None, {"topic": "ucwatch.alerts", "scope": "every child",
                                                  "follow": False})
    assert calls[4][1][:2] == ("read_deadletters", "CH-1")
    assert calls[0][1] == {"before": "reading ucwatch.alerts"}


def test_a_record_that_cannot_be_read_is_skipped_with_its_place_and_the_others_print(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ucwatch.app import watch
    from ucwatch.core.topic_reader import Record
    records = [Record("ucwatch.deadletter", 0, offset, b"CH-1", value, {})
               for offset, value in enumerate([b'{"n": 1}', b"not json", b'{"n": 3}'])]
    monkeypatch.setattr(watch, "read_to_end", lambda client, topic: iter(records))
    out, errors = io.StringIO(), io.StringIO()
    printed = watch.print_topic(Settings.load(), "ucwatch.deadletter", watch.json_renderer, out=out, errors=errors)
    assert (printed.shown, printed.skipped) == (2, 1)
    assert [json.loads(line)["n"] for line in out.getvalue().splitlines()] == [1, 3]
    assert errors.getvalue().startswith("skipped ucwatch.deadletter:0:1: ")


def test_an_audit_entry_names_the_actor_and_the_os_user() -> None:
    entry = audit.audit_entry("read_alerts", None, environ={"UCWATCH_ACTOR": "alice"}, topic="ucwatch.alerts")
    assert entry["actor"] == "alice"
    assert entry["os_user"] == audit.os_user() and entry["os_user"]
    assert (entry["action"], entry["child_id"], entry["topic"]) == ("read_alerts", None, "ucwatch.alerts")
    assert audit.audit_entry("read_child_state", "CH-1", environ={})["actor"] == audit.os_user()


def test_local_kafka_lives_under_the_data_folder_unless_told(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert kafka_local.script_environment(settings, {})["UCWATCH_KAFKA_HOME"] == str(tmp_path / "data" / "kafka")
    chosen = {"UCWATCH_KAFKA_HOME": "/srv/kafka"}
    assert kafka_local.script_environment(settings, chosen)["UCWATCH_KAFKA_HOME"] == "/srv/kafka"


def test_kafka_status_reads_the_data_folder(data_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # the real script: nothing is set up in a fresh data folder
    assert cli.main(["kafka", "status"]) == ExitCode.UNREACHABLE
    assert str(data_dir.resolve() / "kafka") in capfd.readouterr().out


def test_a_missing_kafka_script_is_a_clear_error(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UCWATCH_DEPLOY_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(kafka_local.KafkaScriptMissing):
        kafka_local.script_path()
    assert cli.main(["kafka", "start"]) == ExitCode.USAGE
    error = capsys.readouterr().err
    assert "kafka.sh was not found" in error and "UCWATCH_DEPLOY_DIR" in error and "Traceback" not in error


@pytest.mark.parametrize("argv,children", [(["--children", "25"], 25), (["--full-scale"], None)])
def test_simulate_full_scale_is_no_children_limit(argv: list[str], children: int | None, data_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(settings: Settings, **kwargs: Any) -> ExitCode:
        seen.update(kwargs)
        return ExitCode.OK

    monkeypatch.setattr("ucwatch.simulate.command.simulate_command", fake)
    assert cli.main(["simulate", *argv, "--out", "x.jsonl"]) == ExitCode.OK
    assert seen["children"] == children


def test_simulate_refuses_an_unwritable_destination_before_generating(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-folder"
    assert cli.main(["simulate", "--children", "5", "--out", str(missing / "h.jsonl")]) == ExitCode.USAGE
    assert cli.main(["simulate", "--children", "5", "--out", str(tmp_path / "h.jsonl"),
                     "--truth", str(missing / "t.json")]) == ExitCode.USAGE
    error = capsys.readouterr().err
    assert f"cannot write {missing / 'h.jsonl'}" in error and f"the folder {missing} does not exist" in error
    assert not (tmp_path / "h.jsonl").exists()


def test_commands_return_exit_codes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(action="list")
    assert cli.COMMANDS["registry"](args, Settings()) is ExitCode.OK
    assert "lifecycle/ChildEncountered v1" in capsys.readouterr().out
