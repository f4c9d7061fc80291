"""The README's exit-code table is the one in code."""

from __future__ import annotations

import re
from pathlib import Path

from ucwatch.core.exit_codes import ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_exit_code_with_its_meaning() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", README.read_text(), flags=re.M))
    assert {int(code): text.replace("`", "") for code, text in rows.items()} == {
        code.value: code.meaning for code in ExitCode}
