"""Reading export files: every physical line accounted for, with its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucwatch.core.errors import ContractError
from ucwatch.producers.files import detect_format, read_lines


def test_jsonl_lines_keep_their_numbers_and_errors(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"a": 1}\n\n{"a": \n' + b'\xff\xfe\n' + b'{"b": "' + b"x" * 200 + b'"}\n')
    lines = list(read_lines(source, "jsonl", max_record_bytes=100))
    assert [(item.line, item.error.code if item.error else None) for item in lines] == [
        (1, None), (3, "malformed_json"), (4, "bad_encoding"), (5, "oversize")]
    assert lines[0].fields == {"a": 1}


def test_csv_rows_map_header_to_cells_and_drop_empty_cells(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text('event_type,attempt,note\nCaseClosed,,\nWellbeingCallAttempted,2,"two\nlines"\n'
                      'CaseClosed,1\n')
    lines = list(read_lines(source, "csv", max_record_bytes=1000))
    assert lines[0].fields == {"event_type": "CaseClosed"} and lines[0].line == 2 and lines[0].from_text
    assert lines[1].fields["note"] == "two\nlines" and lines[1].line == 3
    assert lines[2].error.code == "malformed_csv" and lines[2].line == 5


def test_csv_header_repeating_a_column_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("event_type,event_type\nA,B\n")
    with pytest.raises(ContractError, match="repeats event_type"):
        list(read_lines(source, "csv", max_record_bytes=1000))


def test_format_from_suffix_or_refused() -> None:
    assert detect_format(Path("x.ndjson")) == "jsonl"
    assert detect_format(Path("x.txt"), "csv") == "csv"
    with pytest.raises(ContractError, match="--format"):
        detect_format(Path("x.txt"))
