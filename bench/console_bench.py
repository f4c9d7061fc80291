"""The console's alert queue with 100,000 open alerts: time of the first page (printed figures).

`python -m bench.console_bench [--alerts N]`: folds N synthetic open alerts (a tenth of them
acknowledged) into the in-memory state and times `queue_page` for the first page, unfiltered
and filtered by severity and triage, as the queue page and its live refresh call it.
Not a timed test; the issue's target is under 1 s. (Alert-to-browser latency: not measured yet.)
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from ucwatch.console.actions import Action, ActionKind
from ucwatch.console.fold import SEVERITIES, AlertChange, ConsoleState
from ucwatch.console.queue import QueueFilter, queue_page
from ucwatch.console.roles import Role

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def build(alerts: int) -> ConsoleState:
    state = ConsoleState()
    for i in range(alerts):
        fired = T0 + timedelta(seconds=i)
        state.apply_alert(AlertChange(alert_id=f"{i:032x}", child_id=f"SYN-CH-{i:09d}", rule=f"RULE_{i % 13}",
                                      change="OPENED", status="OPEN", severity=SEVERITIES[i % 4], deadline=fired,
                                      fired_at=fired, reason="bench", basis="bench", sequence=1, synthetic=True))
        if i % 10 == 0:
            state.apply_action(Action(action_id=f"act-{i}", action=ActionKind.ACKNOWLEDGED, alert_id=f"{i:032x}",
                                      alert_sequence=1, child_id=f"SYN-CH-{i:09d}", actor="bench",
                                      role=Role.OPERATOR, at=fired))
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    state = build(args.alerts)
    print(f"folded {args.alerts:,} open alerts in {time.perf_counter() - started:.2f} s")
    for label, wanted in (("first page, no filter", QueueFilter()),
                          ("first page, CRITICAL", QueueFilter(severity="CRITICAL")),
                          ("first page, triage new", QueueFilter(triage="new")),
                          ("last page, no filter", QueueFilter(page=10**9))):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            page = queue_page(state, wanted, T0, 50)
            times.append(time.perf_counter() - started)
        print(f"{label:<26} {statistics.median(times) * 1000:7.0f} ms median of 5 "
              f"(max {max(times) * 1000:.0f} ms), {page.total:,} matching")


if __name__ == "__main__":
    main()
