"""The dashboard's figures from the console's state: open alerts over time, and times to
acknowledge and to resolve by rule.

Pure. Which clock each figure uses, since alerts carry event time and actions wall time:

- **open alerts over time**: event time. An alert counts as open at a moment when the
  change in effect then (the latest with ``fired_at`` at or before it) has status OPEN,
  with that change's severity; counted at the end of each bucket (a month, a day or an
  hour, whichever gives at most `MAX_BUCKETS` over the span of the changes). A bucket's
  value is the count at its end (``fired_at`` at or before it); its label is its start.
- **time to acknowledge**: wall clock, from the Kafka timestamp of the alert change that
  was acknowledged (when the detector wrote it, `AlertChange.arrived_at`) to the first
  acknowledgement of that change.
- **time to resolve**: event time, from opening to the RESOLVED change, as the analysts'
  report counts it (``alerts_by_rule``): the expected event arrived late.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ucwatch.console.actions import ActionKind
from ucwatch.console.fold import SEVERITIES, ConsoleState

MAX_BUCKETS = 48


@dataclass(frozen=True)
class OpenOverTime:
    labels: list[str]
    by_severity: dict[str, list[int]]
    by_rule: dict[str, list[int]]


@dataclass(frozen=True)
class RuleTimes:
    rule: str
    acknowledged: int
    ack_median_h: float | None
    ack_p90_h: float | None
    resolved: int
    resolve_median_h: float | None
    resolve_p90_h: float | None


def buckets(start: datetime, end: datetime) -> tuple[list[datetime], list[str]]:
    """The end of each bucket from `start` to `end` (the last one after `end`) and each
    bucket's label (its start): months, else days, else hours, the first unit that gives at
    most `MAX_BUCKETS` buckets (months are grouped by 2, 3, ... when there are more)."""
    if (end - start) > timedelta(days=MAX_BUCKETS):
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        step = -(-months // MAX_BUCKETS)
        starts = [datetime(start.year, start.month, 1, tzinfo=UTC)]
        while starts[-1] <= end:
            index = starts[-1].year * 12 + starts[-1].month - 1 + step
            starts.append(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))
        return starts[1:], [f"{s:%Y-%m}" for s in starts[:-1]]
    unit, fmt = ((timedelta(days=1), "%m-%d") if (end - start) > timedelta(hours=MAX_BUCKETS)
                 else (timedelta(hours=1), "%d %H:00"))
    first = (start.replace(hour=0, minute=0, second=0, microsecond=0) if unit == timedelta(days=1)
             else start.replace(minute=0, second=0, microsecond=0))
    starts = [first]
    while starts[-1] <= end:
        starts.append(starts[-1] + unit)
    return starts[1:], [s.strftime(fmt) for s in starts[:-1]]


def open_over_time(state: ConsoleState, *, top_rules: int = 6) -> OpenOverTime:
    """Open alerts at the end of each bucket, by severity and by rule (the `top_rules`
    rules with most alerts open at the end; the others summed as ``other``)."""
    deltas: list[tuple[datetime, str, str, int]] = []
    for entry in state.alerts.values():
        changes = [entry.changes[s] for s in sorted(entry.changes)]
        for i, change in enumerate(changes):
            if change.status != "OPEN":
                continue
            deltas.append((change.fired_at, change.severity, change.rule, 1))
            if i + 1 < len(changes):
                deltas.append((max(changes[i + 1].fired_at, change.fired_at), change.severity, change.rule, -1))
    if not deltas:
        return OpenOverTime([], {}, {})
    deltas.sort(key=lambda d: d[0])
    ends, labels = buckets(deltas[0][0], deltas[-1][0])
    times = [d[0] for d in deltas]
    names = sorted({d[2] for d in deltas})
    severity: dict[str, list[int]] = {s: [] for s in SEVERITIES}
    rule: dict[str, list[int]] = {name: [] for name in names}
    open_by_severity: dict[str, int] = defaultdict(int)
    open_by_rule: dict[str, int] = defaultdict(int)
    done = 0
    for end in ends:
        upto = bisect.bisect_right(times, end)  # changes at or before the bucket's end
        for _, sev, name, step in deltas[done:upto]:
            open_by_severity[sev] += step
            open_by_rule[name] += step
        done = upto
        for sev in SEVERITIES:
            severity[sev].append(open_by_severity[sev])
        for name in names:
            rule[name].append(open_by_rule[name])
    ranked = sorted(names, key=lambda name: (-rule[name][-1], -max(rule[name]), name))
    shown = {name: rule[name] for name in ranked[:top_rules]}
    rest = ranked[top_rules:]
    if rest:
        shown["other"] = [sum(rule[name][i] for name in rest) for i in range(len(ends))]
    return OpenOverTime(labels, {s: v for s, v in severity.items() if any(v)}, shown)


def times_by_rule(state: ConsoleState) -> list[RuleTimes]:
    """Hours to acknowledge and to resolve, median and 90th percentile, per rule."""
    to_ack: dict[str, list[float]] = defaultdict(list)
    to_resolve: dict[str, list[float]] = defaultdict(list)
    rules: set[str] = set()
    for entry in state.alerts.values():
        latest = entry.latest
        if latest is None:
            continue
        rules.add(latest.rule)
        first_ack: dict[int, datetime] = {}
        for action in entry.actions:
            if action.action is ActionKind.ACKNOWLEDGED:
                first_ack.setdefault(action.alert_sequence, action.at)
        for sequence, at in first_ack.items():
            change = entry.changes.get(sequence)
            if change is not None and change.arrived_at is not None:
                to_ack[latest.rule].append(max(0.0, (at - change.arrived_at).total_seconds() / 3600))
        opened = entry.opened_at
        if latest.status == "RESOLVED" and opened is not None:
            to_resolve[latest.rule].append(max(0.0, (latest.fired_at - opened).total_seconds() / 3600))
    return [RuleTimes(rule, len(to_ack[rule]), quantile(to_ack[rule], 0.5), quantile(to_ack[rule], 0.9),
                      len(to_resolve[rule]), quantile(to_resolve[rule], 0.5), quantile(to_resolve[rule], 0.9))
            for rule in sorted(rules)]


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
