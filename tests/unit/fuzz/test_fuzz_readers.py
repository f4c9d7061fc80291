"""The file readers on arbitrary bytes: every line comes out read or with a clear error, and
a good line next to any bad one is still read, with its number."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import sample_event
from tests.unit.fuzz.strategies import fuzz
from ucwatch.core.errors import ContractError
from ucwatch.producers.files import InputLine, read_lines
from ucwatch.producers.lines import physical_lines

READ_ERRORS = {"bad_encoding", "malformed_json", "malformed_csv", "oversize"}
CSV_HEADER = ["event_type", "event_id", "child_id", "occurred_at", "recorded_at", "source", "synthetic", "outcome"]
LIMIT = 1000


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _reference_split(data: bytes, universal: bool) -> list[bytes]:
    data = data.removeprefix(b"\xef\xbb\xbf")
    parts = re.split(rb"\r\n|\r|\n" if universal else rb"\r?\n", data)
    if parts[-1] == b"":
        parts.pop()
    return parts


@fuzz(400)
@given(data=st.binary(max_size=300) | st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\xef\xbb\xbf", b"xyz"]),
                                                max_size=40).map(b"".join),
       limit=st.integers(0, 12), block=st.integers(1, 9), universal=st.booleans())
def test_physical_lines_are_a_plain_split_whatever_the_blocks(data: bytes, limit: int, block: int,
                                                              universal: bool) -> None:
    got = list(physical_lines(io.BytesIO(data), limit, universal=universal, block_bytes=block))
    expected = _reference_split(data, universal)
    assert [line.number for line in got] == list(range(1, len(expected) + 1))
    for line, want in zip(got, expected, strict=True):
        if line.oversize:
            assert line.size == len(want) > limit and line.data == b""
        else:
            assert line.data == want and line.size == len(want)


def _read(path: Path, fmt: str) -> Iterator[InputLine]:
    return read_lines(path, fmt, LIMIT)


def _check(items: list[InputLine], line_count: int) -> None:
    numbers = [item.line for item in items]
    assert numbers == sorted(set(numbers)) and all(1 <= n <= line_count for n in numbers)
    for item in items:
        if item.error is not None:
            assert item.error.code in READ_ERRORS, item.error.message
        else:
            assert item.fields is not None


@fuzz(300)
@given(data=st.binary(max_size=3000), fmt=st.sampled_from(["jsonl", "csv"]))
def test_any_bytes_give_lines_or_clear_errors(folder: Path, data: bytes, fmt: str) -> None:
    source = folder / f"any.{fmt}"
    source.write_bytes(data)
    try:
        items = list(_read(source, fmt))
    except ContractError as exc:  # only a CSV header can refuse the file
        assert fmt == "csv" and "header" in exc.message
        return
    _check(items, data.count(b"\n") + data.count(b"\r") + 1)


good_events = st.builds(lambda n: sample_event("CaseClosed", child=n), st.integers(0, 10**6))
one_line_garbage = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")) | \
    st.sampled_from([b'{"a": ', b"[" * 3000, b'"unterminated,quote', b"\xff\xfe", b"\xef\xbb\xbf", b"x" * 2000,
                     b'{"occurred_at": ' + b"9" * 5000 + b"}"])


@fuzz(200)
@given(lines=st.lists(st.tuples(st.booleans(), good_events, one_line_garbage), min_size=1, max_size=12),
       crlf=st.booleans())
def test_a_good_jsonl_line_next_to_bad_ones_is_read(folder: Path, lines: list, crlf: bool) -> None:
    source = folder / "mixed.jsonl"
    content = [json.dumps(event).encode() if good else garbage for good, event, garbage in lines]
    source.write_bytes((b"\r\n" if crlf else b"\n").join(content))
    items = {item.line: item for item in _read(source, "jsonl")}
    for number, (good, event, _) in enumerate(lines, start=1):
        if good:
            assert items[number].fields == event and items[number].error is None


@fuzz(200)
@given(lines=st.lists(st.tuples(st.booleans(), good_events, one_line_garbage), min_size=1, max_size=12),
       ending=st.sampled_from([b"\n", b"\r\n", b"\r"]), bom=st.booleans())
def test_a_good_csv_row_next_to_bad_ones_is_read(folder: Path, lines: list, ending: bytes, bom: bool) -> None:
    source = folder / "mixed.csv"
    rows = [",".join(str(event[k]).lower() if isinstance(event[k], bool) else str(event[k])
                     for k in CSV_HEADER).encode() if good else garbage for good, event, garbage in lines]
    source.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ending.join([",".join(CSV_HEADER).encode(), *rows]))
    items = {item.line: item for item in _read(source, "csv")}
    for number, (good, event, _) in enumerate(lines, start=2):
        if good:
            expected = {k: str(v).lower() if isinstance(v, bool) else v for k, v in event.items()}
            assert items[number].fields == expected and items[number].error is None
