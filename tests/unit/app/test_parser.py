"""The command line as an operator reads it: help everywhere, one --format, no magic values,
internal commands hidden, one source of the version."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

import pytest

from ucwatch import __version__
from ucwatch.app.cli import COMMANDS, main
from ucwatch.app.parser import HIDDEN, build_parser, iter_commands

VOCABULARY = {"text", "json", "csv"}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_every_command_has_a_description_and_every_option_a_help_text() -> None:
    parser = build_parser()
    missing = [f"ucwatch {'/'.join(a.option_strings) or a.dest}" for a in _options(parser)
               if not a.help or a.help == argparse.SUPPRESS]
    commands = dict(iter_commands(parser))
    assert len(commands) >= 18
    for name, sub in commands.items():
        if not sub.description or not sub.description.strip():
            missing.append(f"ucwatch {name} (description)")
        missing += [f"ucwatch {name} {'/'.join(a.option_strings) or a.dest}" for a in _options(sub)
                    if not a.help or a.help == argparse.SUPPRESS]
    assert missing == []


def test_every_listed_command_has_a_one_line_summary() -> None:
    listing = build_parser().format_help()
    for name in dict(iter_commands(build_parser())):
        if name not in HIDDEN:
            assert f"    {name}" in listing, name


def test_every_command_has_a_handler() -> None:
    handlers = {sub.get_default("command") for _, sub in iter_commands(build_parser())}
    assert handlers == set(COMMANDS)


def test_hidden_commands_run_but_are_not_listed(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["worker", "--name", "w3"]).command == "worker"
    assert not re.search(r"^\s+worker\s", parser.format_help(), re.MULTILINE)
    assert "worker" not in parser.format_usage()
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["no-such-command"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in error and "'simulate'" in error
    assert "'worker'" not in error


def test_version_comes_from_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"ucwatch {__version__}"


def test_format_means_one_thing_everywhere() -> None:
    formats = {}
    for name, sub in iter_commands(build_parser()):
        for action in _options(sub):
            if "--format" in action.option_strings:
                formats[name] = action
            assert "--json" not in action.option_strings, name
    assert set(formats) == {"produce", "sql", "report", "feeds"}
    for name, action in formats.items():
        assert action.choices is not None and set(action.choices) <= VOCABULARY, name
        assert action.default == "text", name


def test_produce_reads_its_input_format_from_its_own_option() -> None:
    args = build_parser().parse_args(["produce", "--input-format", "csv", "--format", "json", "a.csv"])
    assert (args.input_format, args.format) == ("csv", "json")


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_children_must_be_positive_and_full_scale_has_its_own_flag(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--children", value, "--out", "x"])
    assert "--full-scale" in capsys.readouterr().err
    assert parser.parse_args(["simulate", "--full-scale", "--out", "x"]).full_scale
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--full-scale", "--children", "5", "--out", "x"])


def test_no_ticker_is_a_flag_not_a_zero(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--no-ticker"]).tick_every == 0
    assert parser.parse_args(["run"]).tick_every == 60.0
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--tick-every", "0"])
    assert "not a positive number" in capsys.readouterr().err


def test_timestamps_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["tick", "--at", "2023-10-01T00:00:00Z"]).at == datetime(2023, 10, 1, tzinfo=UTC)
    assert parser.parse_args(["report", "--as-of", "2023-10-01"]).as_of == datetime(2023, 10, 1, tzinfo=UTC)
    for argv in (["tick", "--at", "2023-10-01"], ["tick", "--at", "soon"], ["report", "--as-of", "soon"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        assert exit_.value.code == 2
    assert "has no timezone" in capsys.readouterr().err
