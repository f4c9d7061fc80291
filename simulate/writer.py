"""Writing events as JSON Lines, the input format of `ucwatch produce`.

One compact JSON object per line, keys in envelope-then-schema order, UTF-8, newline
terminated. orjson when installed (several times faster); the standard library otherwise,
which gives the same bytes for these events (ASCII strings, ints, bools, no floats).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

try:
    import orjson  # type: ignore[import-not-found, unused-ignore]  # optional: absent, or present and typed

    def _dumps(event: dict[str, Any]) -> bytes:
        line: bytes = orjson.dumps(event)
        return line
except ImportError:  # orjson is optional
    import json

    _encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def _dumps(event: dict[str, Any]) -> bytes:
        return _encode(event).encode("utf-8")

_CHUNK = 4096


def write_jsonl(events: Iterable[dict[str, Any]], path_or_file: str | Path | BinaryIO | io.TextIOBase) -> int:
    """Writes every event, one per line; returns how many were written."""
    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "wb") as fh:
            return _write(events, fh.write)
    if isinstance(path_or_file, io.TextIOBase):
        text = path_or_file
        return _write(events, lambda data: text.write(data.decode("utf-8")))
    return _write(events, path_or_file.write)


def _write(events: Iterable[dict[str, Any]], write: Any) -> int:
    count = 0
    lines: list[bytes] = []
    for event in events:
        lines.append(_dumps(event))
        if len(lines) == _CHUNK:
            write(b"\n".join(lines) + b"\n")
            count += len(lines)
            lines.clear()
    if lines:
        write(b"\n".join(lines) + b"\n")
        count += len(lines)
    return count
