"""The console's figures (printed, not a timed test):

1. the alert queue with 100,000 open alerts: `queue_page` for the first page, unfiltered and
   filtered, as the queue page and its live refresh call it (the issue's target: under 1 s);
2. alert-to-browser latency with 10 alerts/s arriving (``--bootstrap`` a running broker):
   `ucwatch console` as a process on its own topics, one logged-in Server-Sent Events
   client (httpx, in a thread); alerts published to the alerts topic at the rate, each
   timed from just before it is produced to the moment its SSE event reaches the client.

    python -m bench.console_bench [--alerts 100000]
    python -m bench.console_bench --latency --bootstrap 127.0.0.1:9092 [--rate 10] [--seconds 30]
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
    parser.add_argument("--latency", action="store_true", help="also measure alert-to-browser latency")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    queue_figures(args.alerts)
    if args.latency:
        from bench.console_latency import measure
        measure(args.bootstrap, args.rate, args.seconds)


def queue_figures(alerts: int) -> None:
    started = time.perf_counter()
    state = build(alerts)
    print(f"folded {alerts:,} open alerts in {time.perf_counter() - started:.2f} s")
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
