"""Feed health per source (`ucwatch feeds`): watermark, lag, last event, events per day,
events behind the watermark and the retractions they caused, and whether it is stalled.

The figures come from the detection workers' own watermark rows (one per partition,
`__clock__:<p>:marks` in the children table, watermarks.py), read from the table's
changelog topic, so the command needs no worker running and changes nothing. A source's
watermark over the whole topic is the lowest of its partitions' (complete everywhere up
to there); counts are summed; the clock is the latest partition clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.core.topic_reader import read_to_end
from ucwatch.streams.durations import format_duration, iso

CLOCK_PREFIX = "__clock__:"
MARKS_SUFFIX = ":marks"


def feed_health(marks_rows: Iterable[Mapping[str, Any]], clocks: Iterable[int]) -> list[dict[str, Any]]:
    """One row per source seen in any partition's watermark row."""
    rows = [row for row in marks_rows if row]
    now = max(clocks, default=0)
    sources = sorted({s for row in rows for key in ("declared", "arrival") for s in row.get(key, {})})
    out = []
    for source in sources:
        declared = [row["declared"][source] for row in rows if source in row.get("declared", {})]
        arrivals = sum(row.get("arrivals", {}).get(source, 0) for row in rows)
        first = min((row["first"][source] for row in rows if source in row.get("first", {})), default=None)
        last = max((row["arrival"][source] for row in rows if source in row.get("arrival", {})), default=None)
        days = (last - first) / 86_400_000 if first is not None and last is not None and last > first else None
        watermark = min(declared) if declared else None
        out.append({
            "source": source, "watermark": watermark, "declared": bool(declared),
            "lag_ms": now - watermark if watermark is not None else None, "last_event": last,
            "events": arrivals, "events_per_day": round(arrivals / days, 1) if days else None,
            "behind_watermark": sum(row.get("late", {}).get(source, 0) for row in rows),
            "retractions_caused": sum(row.get("retracted", {}).get(source, 0) for row in rows),
            "stalled": any(source in row.get("stalled", {}) for row in rows)})
    return out


def render(health: list[dict[str, Any]]) -> str:
    if not health:
        return "no feed seen yet (no watermark declared, no source watched by the policy)"
    lines = [f"{'source':14} {'watermark':22} {'lag':>9} {'last event':22} {'events/day':>10} "
             f"{'behind':>7} {'retracted':>9}  state"]
    for h in health:
        mark = iso(h["watermark"]) if h["watermark"] is not None else "(none: complete)"
        lag = format_duration(h["lag_ms"]) if h["lag_ms"] is not None else "-"
        last = iso(h["last_event"]) if h["last_event"] is not None else "-"
        per_day = f"{h['events_per_day']:.1f}" if h["events_per_day"] is not None else "-"
        lines.append(f"{h['source']:14} {mark:22} {lag:>9} {last:22} {per_day:>10} {h['behind_watermark']:>7} "
                     f"{h['retractions_caused']:>9}  {'STALLED' if h['stalled'] else 'ok'}")
    return "\n".join(lines)


def read_feed_rows(settings: Settings, timeout_s: float = 60.0) -> tuple[list[dict[str, Any]], list[int]]:
    """The latest watermark row and clock of each partition, from the children table's
    changelog topic (faust names it `<app id>-children-changelog`)."""
    topic = f"{settings.streams.app_id}-children-changelog"
    marks: dict[str, dict[str, Any]] = {}
    clocks: dict[str, int] = {}
    for record in read_to_end(client_config(settings), topic, timeout_s):
        key = (record.key or b"").decode("utf-8", "replace").strip('"')
        if not key.startswith(CLOCK_PREFIX) or not record.value or not record.value.startswith(b"{"):
            continue
        row = json.loads(record.value)
        if key.endswith(MARKS_SUFFIX):
            marks[key] = row.get("marks", {})
        elif "clock_ms" in row:
            clocks[key] = int(row["clock_ms"])
    return list(marks.values()), list(clocks.values())
