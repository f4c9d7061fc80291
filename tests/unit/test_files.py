"""Reading export files: every physical line accounted for, with its number, and the
damage of a bad line confined to that line."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from tests.helpers import sample_event
from ucwatch.core.errors import ContractError
from ucwatch.producers.files import InputLine, check_header, detect_format, read_lines
from ucwatch.producers.lines import physical_lines

HEADER = "event_type,event_id,child_id,occurred_at,recorded_at,source,synthetic,outcome"


def _csv_row(n: int) -> str:
    event = sample_event("CaseClosed", child=n)
    return ",".join(str(event[name]).lower() if isinstance(event[name], bool) else str(event[name])
                    for name in HEADER.split(","))


def _summary(lines: list[InputLine]) -> list[tuple[int, str | None]]:
    return [(item.line, item.error.code if item.error else None) for item in lines]


def test_jsonl_lines_keep_their_numbers_and_errors(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"a": 1}\n\n{"a": \n' + b'\xff\xfe\n' + b'{"b": "' + b"x" * 200 + b'"}\n')
    lines = list(read_lines(source, "jsonl", max_record_bytes=100))
    assert _summary(lines) == [(1, None), (3, "malformed_json"), (4, "bad_encoding"), (5, "oversize")]
    assert lines[0].fields == {"a": 1}


@pytest.mark.parametrize("bad,code", [
    (b"[" * 5000 + b"]" * 5000, "malformed_json"),           # RecursionError in the parser
    (b'{"attempt": ' + b"7" * 5000 + b"}", "malformed_json"),  # more digits than Python converts
    (b'{"a": "\xed\xa0\x80"}', "bad_encoding"),                # an encoded surrogate is not UTF-8
])
def test_a_line_the_parser_chokes_on_is_an_error_of_that_line(tmp_path: Path, bad: bytes, code: str) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"n": 1}\n' + bad + b'\n{"n": 3}\n')
    lines = list(read_lines(source, "jsonl", max_record_bytes=16_384))
    assert _summary(lines) == [(1, None), (2, code), (3, None)]
    assert lines[1].raw == bad and "7777" not in lines[1].error.message


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    jsonl, csv_file = tmp_path / "a.jsonl", tmp_path / "a.csv"
    jsonl.write_bytes(b'\xef\xbb\xbf{"n": 1}\n')
    csv_file.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n{_csv_row(1)}\n".encode())
    assert next(read_lines(jsonl, "jsonl", 1000)).fields == {"n": 1}
    row = next(read_lines(csv_file, "csv", 1000))
    assert row.error is None and row.fields["event_type"] == "CaseClosed"


def test_an_oversize_line_is_hashed_not_kept_and_its_neighbours_are_read(tmp_path: Path) -> None:
    long_line = b'{"padding": "' + b"A012345678 " * 300_000 + b'"}'  # 3.3 MB: more than one block
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"n": 1}\n' + long_line + b'\r\n{"n": 3}\n')
    lines = list(read_lines(source, "jsonl", max_record_bytes=16_384))
    assert _summary(lines) == [(1, None), (2, "oversize"), (3, None)]
    assert lines[1].raw == b"" and lines[1].fingerprint == (hashlib.sha256(long_line).hexdigest(), len(long_line))


def test_csv_unterminated_quote_spoils_its_own_line_only(tmp_path: Path) -> None:
    # The reported case: a quote opened on line 5 swallowed the 10 good rows after it.
    rows = [_csv_row(n) for n in range(3)] + ['CaseClosed,"unterminated,x,y,z,w,v,u'] + \
           [_csv_row(n) for n in range(10, 20)]
    source = tmp_path / "a.csv"
    source.write_text(HEADER + "\n\n" + "\n".join(rows) + "\n")
    lines = list(read_lines(source, "csv", max_record_bytes=1000))
    assert _summary(lines) == [(3, None), (4, None), (5, None), (6, "malformed_csv")] + \
                              [(n, None) for n in range(7, 17)]
    assert lines[3].raw == rows[3].encode() and "quote" in lines[3].error.message
    assert [item.fields["child_id"] for item in lines[4:]] == [f"SYN-CH-{n:09d}" for n in range(10, 20)]


def test_csv_invalid_utf8_spoils_its_own_line_only(tmp_path: Path) -> None:
    # The reported case: one bad byte on line 5 lost all 13 good rows.
    rows = [_csv_row(n).encode() for n in range(13)]
    bad = b"CaseClosed,caf\xe9,x"
    source = tmp_path / "a.csv"
    source.write_bytes(HEADER.encode() + b"\n" + b"\n".join([*rows[:3], bad, *rows[3:]]) + b"\n")
    lines = list(read_lines(source, "csv", max_record_bytes=1000))
    assert _summary(lines) == [(2, None), (3, None), (4, None), (5, "bad_encoding")] + \
                              [(n, None) for n in range(6, 16)]
    assert lines[3].raw == bad


def test_csv_a_quoted_line_break_is_an_error_not_a_longer_record(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text('event_type,attempt,note\nCaseClosed,,\nWellbeingCallAttempted,2,"two\nlines"\n'
                      'CaseClosed,1\nCaseClosed,"1",""\n')
    lines = list(read_lines(source, "csv", max_record_bytes=1000))
    assert lines[0].fields == {"event_type": "CaseClosed"} and lines[0].line == 2 and lines[0].from_text
    assert _summary(lines[1:]) == [(3, "malformed_csv"), (4, "malformed_csv"), (5, "malformed_csv"), (6, None)]
    assert lines[4].fields == {"event_type": "CaseClosed", "attempt": "1"}


def test_csv_with_carriage_return_line_ends(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(f"{HEADER}\r{_csv_row(1)}\r\r{_csv_row(2)}\r\n{_csv_row(3)}".encode())
    lines = list(read_lines(source, "csv", max_record_bytes=1000))
    assert _summary(lines) == [(2, None), (4, None), (5, None)]


def test_csv_header_problems_refuse_the_file_before_any_row(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    for header, fragment in [("event_type,event_type", "repeats event_type"),
                             ('event_type,"child_id', "quote"), ("event_type,caf\xe9", "not UTF-8")]:
        source.write_bytes(header.encode("latin-1") + b"\nA,B\n")
        with pytest.raises(ContractError, match=fragment):
            check_header(source, "csv", 1000)
        with pytest.raises(ContractError, match=fragment):
            list(read_lines(source, "csv", max_record_bytes=1000))


def test_format_from_suffix_or_refused() -> None:
    assert detect_format(Path("x.ndjson")) == "jsonl"
    assert detect_format(Path("x.txt"), "csv") == "csv"
    with pytest.raises(ContractError, match="--input-format"):
        detect_format(Path("x.txt"))


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 1 << 20])
def test_physical_lines_whatever_the_block_boundaries(block_bytes: int) -> None:
    data = b"ab\r\ncd\n\nlong-line-here\r\rx\r\ny"
    jsonl = list(physical_lines(io.BytesIO(data), 6, block_bytes=block_bytes))
    assert [(p.number, p.data, p.size) for p in jsonl] == [
        (1, b"ab", 2), (2, b"cd", 2), (3, b"", 0), (4, b"", 17), (5, b"y", 1)]
    assert jsonl[3].sha256 == hashlib.sha256(b"long-line-here\r\rx").hexdigest()
    universal = list(physical_lines(io.BytesIO(data), 6, universal=True, block_bytes=block_bytes))
    assert [(p.number, p.data) for p in universal] == [
        (1, b"ab"), (2, b"cd"), (3, b""), (4, b""), (5, b""), (6, b"x"), (7, b"y")]
    assert universal[3].size == 14


def test_jsonl_reads_what_json_dumps_writes(tmp_path: Path) -> None:
    events = [sample_event("CaseClosed", child=n) for n in range(5)]
    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert [item.fields for item in read_lines(source, "jsonl", 16_384)] == events
