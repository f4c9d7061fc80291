"""Reading agencies' export files line by line, without ever dropping a line.

Each line (JSON Lines) or row (CSV) becomes an `InputLine`: either the parsed fields or a
`ContractError` saying why it could not be read (malformed JSON or CSV, bad encoding,
oversize). Blank lines are skipped. CSV files have a header naming the fields of
domain.md; one file may mix event types, each row leaving the other types' cells empty.
Line numbers are the physical line numbers in the file, as an editor shows them.

Damage stays on its line: the file is split into lines as bytes (`lines`), and each line
is decoded and parsed by itself, so a byte that is not UTF-8, an unterminated quote or a
line too long to read spoils that line only. A CSV record is one line: no field of the
contract may hold a line break (codes, tokens, timestamps, short names), so a quoted line
break can only be an error, and reading it as one would let one stray quote swallow the
good rows after it. A UTF-8 byte-order mark is ignored in both formats.

An unexpected exception while parsing a line (a bug) also stays on its line: it becomes
the line's error, coded `internal_error`, and is logged with its traceback.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucwatch.core.errors import ContractError
from ucwatch.producers.lines import PhysicalLine, physical_lines

log = logging.getLogger("ucwatch.produce")

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
INTERNAL_ERROR = "internal_error"
"""The reason code of a line that hit a bug in ucwatch, not a fault of the input."""


@dataclass
class InputLine:
    line: int
    raw: bytes
    """The line as it is in the file, without its ending; empty when it was too long to keep."""
    fields: Any = None
    error: ContractError | None = None
    from_text: bool = False
    fingerprint: tuple[str, int] | None = None
    """(SHA-256, size) of a line too long to keep; otherwise they are taken from `raw`."""


def detect_format(path: Path, override: str | None = None) -> str:
    if override:
        return override
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ContractError("unknown_format", f"{path}: cannot tell the format from the suffix "
                            f"{path.suffix!r}; use --input-format jsonl or --input-format csv") from None


def read_lines(path: Path, fmt: str, max_record_bytes: int) -> Iterator[InputLine]:
    """Every non-blank line of the file; raises ContractError only for a CSV header it cannot use."""
    if fmt == "jsonl":
        return _read(path, max_record_bytes, universal=False, parse=_parse_json_line)
    if fmt == "csv":
        return _read_csv(path, max_record_bytes)
    raise ContractError("unknown_format", f"unknown format {fmt!r}")


def check_header(path: Path, fmt: str, max_record_bytes: int) -> None:
    """Refuses a file whose lines cannot be read at all (a CSV header); reads no further."""
    if fmt == "csv":
        with path.open("rb") as stream:
            _csv_header(path, physical_lines(stream, max_record_bytes, universal=True))


def _read(path: Path, max_record_bytes: int, *, universal: bool,
          parse: Any) -> Iterator[InputLine]:
    with path.open("rb") as stream:
        for physical in physical_lines(stream, max_record_bytes, universal=universal):
            item = _parsed(physical, max_record_bytes, parse)
            if item is not None:
                yield item


def _parsed(physical: PhysicalLine, max_record_bytes: int, parse: Any) -> InputLine | None:
    if physical.sha256 is not None:
        return InputLine(physical.number, b"", error=_oversize(physical.size, max_record_bytes),
                         fingerprint=(physical.sha256, physical.size))
    if not physical.data.strip():
        return None
    try:
        item: InputLine | None = parse(physical)
    except Exception as exc:  # a bug must cost this line only, never the rest of the file
        log.exception("line %d could not be read", physical.number)
        return InputLine(physical.number, physical.data, error=internal_error(exc, "reading"))
    return item


def _text(physical: PhysicalLine) -> str | ContractError:
    try:
        return physical.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ContractError("bad_encoding", f"not UTF-8: {exc.reason} at byte {exc.start + 1} of the line")


def _parse_json_line(physical: PhysicalLine) -> InputLine:
    text = _text(physical)
    if isinstance(text, ContractError):
        return InputLine(physical.number, physical.data, error=text)
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg} at character {exc.pos + 1}"
    except RecursionError:
        problem = "nested too deeply to read"
    except ValueError:  # the only other one: an integer of more than sys.get_int_max_str_digits() digits
        problem = "a number too long to read"
    else:
        return InputLine(physical.number, physical.data, fields)
    return InputLine(physical.number, physical.data,
                     error=ContractError("malformed_json", f"not valid JSON: {problem}"))


def _read_csv(path: Path, max_record_bytes: int) -> Iterator[InputLine]:
    with path.open("rb") as stream:
        lines = physical_lines(stream, max_record_bytes, universal=True)
        header = _csv_header(path, lines)

        def parse(physical: PhysicalLine) -> InputLine | None:
            return _parse_csv_row(physical, header)

        for physical in lines:
            item = _parsed(physical, max_record_bytes, parse)
            if item is not None:
                yield item


def _csv_header(path: Path, lines: Iterator[PhysicalLine]) -> list[str]:
    for physical in lines:
        if physical.sha256 is None and not physical.data.strip():
            continue
        where = f"{path}: the header (line {physical.number})"
        if physical.sha256 is not None:
            raise ContractError("malformed_csv", f"{where} is {physical.size} bytes long, over the record limit")
        text = _text(physical)
        if isinstance(text, ContractError):
            raise ContractError("malformed_csv", f"{where} is {text.message}")
        cells = _csv_cells(text)
        if isinstance(cells, ContractError):
            raise ContractError("malformed_csv", f"{where} is {cells.message}")
        header = [name.strip() for name in cells]
        duplicates = sorted({n for n in header if header.count(n) > 1})
        if duplicates:
            raise ContractError("malformed_csv", f"{path}: header repeats {', '.join(duplicates)}")
        return header
    return []


def _parse_csv_row(physical: PhysicalLine, header: list[str]) -> InputLine | None:
    text = _text(physical)
    if isinstance(text, ContractError):
        return InputLine(physical.number, physical.data, error=text)
    row = _csv_cells(text)
    if isinstance(row, ContractError):
        return InputLine(physical.number, physical.data, error=row)
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(header):
        return InputLine(physical.number, physical.data, error=ContractError(
            "malformed_csv", f"row has {len(row)} cells, the header has {len(header)}"))
    fields = {name: cell for name, cell in zip(header, row, strict=True) if cell != ""}
    return InputLine(physical.number, physical.data, fields, from_text=True)


def _csv_cells(text: str) -> list[str] | ContractError:
    """The cells of one line; the csv module sees this line only, so a quote cannot run on."""
    try:
        return next(csv.reader((text,), strict=True))
    except csv.Error as exc:
        if text.count('"') % 2:
            return ContractError("malformed_csv", "not valid CSV: a quote is opened and not closed on this "
                                 "line (a record must fit on one line)")
        return ContractError("malformed_csv", f"not valid CSV: {exc}")


def internal_error(exc: BaseException, stage: str) -> ContractError:
    """The error of a line that hit a bug: its kind only (a message could quote the input)."""
    return ContractError(INTERNAL_ERROR, f"internal error while {stage} the line: {type(exc).__name__} "
                         "(a bug in ucwatch; the traceback is in the log)")


def _oversize(size: int, limit: int) -> ContractError:
    return ContractError("oversize", f"record of {size} bytes exceeds the limit of {limit} bytes")
