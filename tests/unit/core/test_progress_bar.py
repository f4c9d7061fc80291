"""Progress goes to stderr as plain lines when it is not a terminal, and never to stdout."""

from __future__ import annotations

import io

from ucwatch.core.progress_bar import ProgressBar


def test_plain_lines_every_interval_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("publishing", total=1000, unit="lines", stream=stream, every_s=0.0) as bar:
        bar.advance(400)
        bar.advance(600)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("publishing: 400 of 1,000 lines (")
    assert lines[-1].startswith("publishing: 1,000 of 1,000 lines (")


def test_quiet_when_disabled_or_quick() -> None:
    stream = io.StringIO()
    with ProgressBar("x", stream=stream, enabled=False, every_s=0.0) as bar:
        bar.advance(5)
    with ProgressBar("y", stream=stream, every_s=60.0) as bar:
        bar.advance(5)
    assert stream.getvalue() == "" and bar.done == 5
