"""Splitting an export file into physical lines, as bytes, in bounded memory.

A file is read in blocks and cut at line endings; nothing is decoded here, so a byte that
is not UTF-8 spoils only the line it is on (`files` decodes each line by itself). A line
longer than the limit is never held whole: its bytes are hashed as they stream past and
it comes out with no data, only its size and SHA-256, so an oversize line costs no more
memory than a short one and the lines after it are read as usual.

Line numbers are those an editor shows: the first line is 1. A line ends at ``\\n`` or
``\\r\\n``, and with `universal` (CSV, as Python's csv module reads it) also at a lone
``\\r``. A UTF-8 byte-order mark at the start of the file is not part of line 1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"
_UNIVERSAL = re.compile(rb"\r\n|\r|\n")
_LF = re.compile(rb"\r?\n")


@dataclass(frozen=True)
class PhysicalLine:
    number: int
    data: bytes
    """The line without its ending; empty when the line was over the limit."""
    size: int
    """The length of the whole line in bytes, without its ending."""
    sha256: str | None = None
    """Set only for a line over the limit, whose `data` is not kept."""

    @property
    def oversize(self) -> bool:
        return self.sha256 is not None


class _Blocks:
    """The unread part of the stream: `buffer[pos:]`, topped up a block at a time."""

    def __init__(self, stream: BinaryIO, block_bytes: int) -> None:
        self._stream = stream
        self._block_bytes = block_bytes
        self.buffer = b""
        self.pos = 0

    def fill(self) -> bool:
        """Appends the next block to what is left; False at the end of the stream."""
        block = self._stream.read(self._block_bytes)
        if not block:
            return False
        self.buffer = self.buffer[self.pos:] + block
        self.pos = 0
        return True

    @property
    def left(self) -> int:
        return len(self.buffer) - self.pos


def physical_lines(stream: BinaryIO, limit: int, *, universal: bool = False,
                   block_bytes: int = BLOCK_BYTES) -> Iterator[PhysicalLine]:
    """Every line of `stream`, blank ones included; a line over `limit` bytes comes out cut."""
    ending = _UNIVERSAL if universal else _LF
    blocks = _Blocks(stream, block_bytes)
    while blocks.left < len(BOM) and blocks.fill():
        pass
    if blocks.buffer.startswith(BOM):
        blocks.pos = len(BOM)
    number = 0
    skip_lf = False  # the last line ended in a lone \r at the end of a block; a \n may follow
    while True:
        if skip_lf:
            skip_lf = False
            if (blocks.left or blocks.fill()) and blocks.buffer.startswith(b"\n", blocks.pos):
                blocks.pos += 1
        match = ending.search(blocks.buffer, blocks.pos)
        if match is None and blocks.left <= limit + 1 and blocks.fill():
            continue  # the line may end in the next block (+1: the \r of a \r\n cut by the block)
        if match is None and not blocks.left:
            return
        number += 1
        if match is not None and match.start() - blocks.pos <= limit:
            data = blocks.buffer[blocks.pos:match.start()]
            blocks.pos = match.end()
            skip_lf = match.group() == b"\r" and not blocks.left
        elif match is None and blocks.left <= limit:  # the last line, without an ending
            data = blocks.buffer[blocks.pos:]
            blocks.pos = len(blocks.buffer)
        else:
            size, sha256, skip_lf = _hash_to_line_end(blocks, ending)
            yield PhysicalLine(number, b"", size, sha256)
            continue
        yield PhysicalLine(number, data, len(data))


def _hash_to_line_end(blocks: _Blocks, ending: re.Pattern[bytes]) -> tuple[int, str, bool]:
    """Consumes a long line: (its size, its SHA-256, whether it ended in a lone \\r at a block end)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        match = ending.search(blocks.buffer, blocks.pos)
        end = match.start() if match is not None else len(blocks.buffer)
        if match is None and blocks.buffer.endswith(b"\r"):
            end -= 1  # perhaps the \r of a \r\n: hashed with the next block if it is not
        digest.update(memoryview(blocks.buffer)[blocks.pos:end])
        size += end - blocks.pos
        if match is not None:
            blocks.pos = match.end()
            return size, digest.hexdigest(), match.group() == b"\r" and not blocks.left
        blocks.pos = end
        if not blocks.fill():
            if blocks.left:  # a \r held back at the very end of the file
                digest.update(blocks.buffer[blocks.pos:])
                size += blocks.left
                blocks.pos = len(blocks.buffer)
            return size, digest.hexdigest(), False
