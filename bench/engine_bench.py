"""Events per second of the detection engine alone, over a simulated history.

    python -m bench.engine_bench [--children 5000] [--seed 1] [--repeat 3] [--ticks]

The simulator's events (arrival order, with its lateness, disorder and duplicates) are
converted to the engine's form first (timestamps to int ms); then the timed loop feeds
every event to `Engine.on_event` with now = the largest recorded_at seen so far, keeping
each child's state in a dict, as the faust table would. ``--ticks`` also calls `on_time`
for every child whose next wakeup the clock has passed (counted per event). ``--serialize``
adds the state's JSON round trip per event (what a changelogged table costs on top).
``--gc-threshold 50000`` runs the cyclic garbage collector less often (about a quarter of
the time otherwise goes to it).
Prints events/s and the mean µs per event (process CPU time, best of --repeat; the
engine's budget is 25 µs), and the time of a reference snippet of plain Python on this
machine, to compare figures taken on machines of different speed or load.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import time
import timeit
from datetime import datetime
from typing import Any

from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.state import ChildState

TIMESTAMPS = ("occurred_at", "recorded_at", "hearing_at", "next_hearing_at")


def to_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def engine_events(children: int, seed: int) -> list[dict[str, Any]]:
    from ucwatch.simulate import Simulation, SimulationConfig

    out = []
    for event in Simulation(SimulationConfig(seed=seed, children=children)).events():
        for name in TIMESTAMPS:
            value = event.get(name)
            if isinstance(value, str):
                event[name] = to_ms(value)
        out.append(event)
    return out


def run(engine: Engine, events: list[dict[str, Any]], ticks: bool, serialize: bool) -> tuple[float, int, int]:
    """CPU seconds to feed every event (and, with `ticks`, to wake every child whose next
    wakeup has passed, as the clock moves: a heap of wakeups, as the processor keeps)."""
    states: dict[str, ChildState] = {}
    timers: list[tuple[int, str]] = []
    now = 0
    alerts = notifications = 0
    started = time.process_time()
    for event in events:
        now = max(now, event["recorded_at"])
        child = event["child_id"]
        state = states.get(child)
        if serialize and state is not None:
            state = ChildState.from_dict(json.loads(json.dumps(state.to_dict())))
        step = engine.on_event(state, event, now)
        states[child] = step.state
        alerts += len(step.alerts)
        notifications += len(step.notifications)
        if ticks:
            if step.changed and step.state.next_wakeup_ms is not None:
                heapq.heappush(timers, (step.state.next_wakeup_ms, child))
            while timers and timers[0][0] <= now:
                wake, key = heapq.heappop(timers)
                state = states[key]
                if state.next_wakeup_ms != wake:
                    continue
                step = engine.on_time(state, now)
                states[key] = step.state
                alerts += len(step.alerts)
                notifications += len(step.notifications)
                if step.state.next_wakeup_ms is not None:
                    heapq.heappush(timers, (step.state.next_wakeup_ms, key))
    return time.process_time() - started, alerts, notifications


def reference_ns() -> float:
    """ns per run of a fixed snippet of plain Python: the speed of this interpreter here."""
    runs = 200_000
    best = min(timeit.repeat("d = {'a': 1}; d.get('a'); d.get('b')", number=runs, repeat=5,
                             timer=time.process_time))
    return best / runs * 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ticks", action="store_true")
    parser.add_argument("--serialize", action="store_true")
    parser.add_argument("--gc-threshold", type=int, default=0,
                        help="gen0 threshold of the cyclic garbage collector (default: Python's)")
    args = parser.parse_args(argv)
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 20, 100)
    events = engine_events(args.children, args.seed)
    per_child = len(events) / max(1, len({e["child_id"] for e in events}))
    engine = Engine(default_policy())
    best = None
    for _ in range(args.repeat):
        elapsed, alerts, notifications = run(engine, events, args.ticks, args.serialize)
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    print(f"{len(events)} events of {args.children} children ({per_child:.1f} per child), "
          f"ticks={'on' if args.ticks else 'off'}, serialize={'on' if args.serialize else 'off'}, "
          f"gc threshold {gc.get_threshold()[0]}")
    print(f"engine: {len(events) / best:,.0f} events/s, {best / len(events) * 1e6:.1f} µs/event "
          f"(CPU, best of {args.repeat}); {alerts} alert changes, {notifications} notifications")
    print(f"reference snippet: {reference_ns():.0f} ns here")


if __name__ == "__main__":
    main()
