"""Progress of a long command on the terminal: a bar with rate and time left on a terminal,
one plain line every `every_s` seconds otherwise (logs, CI), nothing when disabled.

    with ProgressBar("publishing", total=lines, unit="lines") as bar:
        for line in lines:
            ...
            bar.advance()

Progress goes to stderr, so that a command's output on stdout stays machine-readable.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBar:
    def __init__(self, label: str, *, total: int | None = None, unit: str = "records",
                 stream: IO[str] | None = None, enabled: bool = True, every_s: float = 10.0) -> None:
        self.label = label
        self.unit = unit
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._every_s = every_s
        self._started = time.monotonic()
        self._last_line = self._started
        self._rich: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        if self._enabled and self._stream.isatty():
            self._rich = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(file=self._stream), transient=False)
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total, rate="")
        return self

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if not self._enabled:
            return
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=done, total=self.total, rate=self._rate())
            return
        now = time.monotonic()
        if now - self._last_line >= self._every_s:
            self._last_line = now
            self._line()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self._enabled and time.monotonic() - self._started >= self._every_s:
            self._line()

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._started
        return f"{self.done / elapsed:,.0f} {self.unit}/s" if elapsed > 0 else ""

    def _line(self) -> None:
        of = f" of {self.total:,}" if self.total else ""
        print(f"{self.label}: {self.done:,}{of} {self.unit} ({self._rate()})", file=self._stream, flush=True)
