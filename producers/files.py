"""Reading agencies' export files line by line, without ever dropping a line.

Each line (JSON Lines) or row (CSV) becomes an `InputLine`: either the parsed fields or a
`ContractError` saying why it could not be read (malformed JSON or CSV, bad encoding,
oversize). Blank lines are skipped. CSV files have a header naming the fields of
domain.md; one file may mix event types, each row leaving the other types' cells empty.
Line numbers are the physical line numbers in the file, as an editor shows them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import orjson

    _loads = orjson.loads
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # orjson is optional: the standard library parses the same format
    import json

    _loads = json.loads
    _JSONError = (json.JSONDecodeError,)

from ucwatch.core.errors import ContractError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


@dataclass
class InputLine:
    line: int
    raw_text: str
    fields: Any = None
    error: ContractError | None = None
    from_text: bool = False


def detect_format(path: Path, override: str | None = None) -> str:
    if override:
        return override
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ContractError("unknown_format", f"{path}: cannot tell the format from the suffix "
                            f"{path.suffix!r}; use --format jsonl or --format csv") from None


def read_lines(path: Path, fmt: str, max_record_bytes: int) -> Iterator[InputLine]:
    if fmt == "jsonl":
        return _read_jsonl(path, max_record_bytes)
    if fmt == "csv":
        return _read_csv(path, max_record_bytes)
    raise ContractError("unknown_format", f"unknown format {fmt!r}")


def _read_jsonl(path: Path, max_record_bytes: int) -> Iterator[InputLine]:
    with path.open("rb") as fh:
        for number, data in enumerate(fh, start=1):
            if len(data) > max_record_bytes:
                yield InputLine(number, data.decode("utf-8", "replace"), error=_oversize(len(data), max_record_bytes))
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield InputLine(number, data.decode("utf-8", "replace"),
                                error=ContractError("bad_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}"))
                continue
            if not text.strip():
                continue
            try:
                fields = _loads(data)
            except _JSONError as exc:
                yield InputLine(number, text.rstrip("\r\n"),
                                error=ContractError("malformed_json", f"not valid JSON: {exc}"))
                continue
            yield InputLine(number, text.rstrip("\r\n"), fields)


def _read_csv(path: Path, max_record_bytes: int) -> Iterator[InputLine]:
    with path.open("r", encoding="utf-8", errors="strict", newline="") as fh:
        lines = _PhysicalLines(fh)
        reader = csv.reader(lines, strict=True)
        header: list[str] | None = None
        while True:
            start = lines.number + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield InputLine(start, lines.last_text, error=ContractError("malformed_csv", f"not valid CSV: {exc}"))
                continue
            except UnicodeDecodeError as exc:
                yield InputLine(start, "", error=ContractError("bad_encoding", f"not UTF-8: {exc.reason}"))
                return
            raw_text = lines.text_since(start)
            if header is None:
                header = [name.strip() for name in row]
                duplicates = sorted({n for n in header if header.count(n) > 1})
                if duplicates:
                    raise ContractError("malformed_csv", f"{path}: header repeats {', '.join(duplicates)}")
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(raw_text.encode()) > max_record_bytes:
                yield InputLine(start, raw_text, error=_oversize(len(raw_text.encode()), max_record_bytes))
                continue
            if len(row) != len(header):
                yield InputLine(start, raw_text, error=ContractError(
                    "malformed_csv", f"row has {len(row)} cells, the header has {len(header)}"))
                continue
            fields = {name: cell for name, cell in zip(header, row) if cell != ""}
            yield InputLine(start, raw_text, fields, from_text=True)


class _PhysicalLines:
    """Feeds the CSV reader while remembering the text and numbers of physical lines."""

    def __init__(self, fh: io.TextIOBase) -> None:
        self._fh = fh
        self.number = 0
        self._recent: list[tuple[int, str]] = []
        self.last_text = ""

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        text = self._fh.readline()
        if not text:
            raise StopIteration
        self.number += 1
        self._recent.append((self.number, text))
        if len(self._recent) > 64:
            del self._recent[:-64]
        self.last_text = text.rstrip("\r\n")
        return text

    def text_since(self, first: int) -> str:
        return "".join(text for number, text in self._recent if number >= first).rstrip("\r\n")


def _oversize(size: int, limit: int) -> ContractError:
    return ContractError("oversize", f"record of {size} bytes exceeds the limit of {limit} bytes")
