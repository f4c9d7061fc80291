"""Durations as the policy writes them (``"48h"``, ``"37d"``, ``"1d12h"``) and back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

UNITS_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000}
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"^(?:\d+[wdhms])+$")
IMMEDIATE = "immediate"


def parse_duration(text: object) -> int:
    """Milliseconds of ``"48h"``, ``"37d"``, ``"1d12h"``, ``"immediate"`` (0); ValueError otherwise."""
    if text == IMMEDIATE:
        return 0
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"bad duration {text!r}: expected e.g. \"48h\", \"37d\", \"1d12h\" or \"immediate\"")
    return sum(int(n) * UNITS_MS[unit] for n, unit in _PART.findall(text))


def format_duration(ms: int) -> str:
    """Policy-style text of a duration: 172_800_000 -> ``"2d"``, 129_600_000 -> ``"1d12h"``."""
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = UNITS_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return sign + ("".join(parts) or "0s")


def iso(ms: int) -> str:
    """UTC ISO-8601 text of an epoch-millisecond instant, for messages."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
