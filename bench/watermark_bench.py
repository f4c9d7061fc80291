"""Alerts that wait for the evidence: the same simulated history through the detection
processor without watermarks, with the sources' declared watermarks, and with estimated
watermarks only, in one run.

    python -m bench.watermark_bench [--children 20000] [--seed 7] [--feed load|event]
                                    [--out-of-order 0.02] [--percentile 99] [--ceiling 30d]
                                    [--outage EOIR,2021-06-01T00:00:00Z,2021-06-15T00:00:00Z]
                                    [--grace 3d | --grace CBP=3d,ORR=1d]

Per rule and in total: alerts opened, retracted, the retracted share, false notices
(notices sent for an alert later retracted), alerts withdrawn while pending, and the delay
from the deadline to the moment each real alert (opened, never retracted) was emitted,
median and p90, in hours; then the per-source lateness, the retractions by the event that
caused them (and how far behind its source's watermark it had occurred: a grace shorter
than that cannot prevent them), and the checks against issue 11's targets, where a rule's
added delay is, per real alert, its emission in the run minus its emission in the run
without watermarks (the same alert; its median and p90). One partition
(PartitionProcessor on a dict), a clock tick every 6 hours. `--grace` adds a fourth run:
the declared watermarks less a grace per source (policy `[[feeds.source]] grace`), for
the records a source enters late.

`--feed load` (the default here) draws the tail lateness per nightly load (per day for
real-time sources), which a source knows of and declares (simulate/watermarks.py);
`--feed event` is the simulator's default feed, where a random quarter of batch events is
7-30 days late one by one, which no source can know of: those arrive behind the declared
watermarks. `--out-of-order 0` leaves out the feed's other unknowable disorder (events
held back past the child's next one). docs/detect.md has the figures.
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.simulate.config import FeedRates
from ucwatch.simulate.watermarks import VOUCH_PERCENTILE, declarations
from ucwatch.streams.durations import parse_duration
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy import Feeds, Policy, SourceFeed
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import PartitionProcessor
from ucwatch.streams.watermarks import rule_sources

HOUR = 3_600_000
DAY = 24 * HOUR
TICK_EVERY = 6 * HOUR
SOURCES = ("CBP", "ICE", "ICE_ERO", "ICE_OPLA", "ORR", "ORR_PROVIDER", "PRS", "EOIR")
TIMESTAMPS = ("occurred_at", "recorded_at", "hearing_at", "next_hearing_at")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def simulation_config(children: int, seed: int, by_load: bool, outage: tuple[str, str, str] | None,
                      out_of_order: float) -> SimulationConfig:
    feed = FeedRates(late_by_load=by_load, outage=outage, out_of_order_share=out_of_order)
    return SimulationConfig(seed=seed, children=children, feed=feed)


def simulated(config: SimulationConfig) -> list[dict[str, Any]]:
    events = []
    for e in Simulation(config).events():
        for name in TIMESTAMPS:
            if isinstance(e.get(name), str):
                e[name] = _ms(e[name])
        events.append(e)
    return events


Record = tuple[int, int, str, Any]   # (time, order, kind, value)


def log(events: list[dict[str, Any]], marks: list[tuple[int, str, int]]) -> Iterator[Record]:
    """Events in arrival order, declarations at their instants, a tick every 6 hours."""
    first, last = events[0]["recorded_at"], events[-1]["recorded_at"]
    ticks = ((t, 2, "tick", t) for t in range(first // TICK_EVERY * TICK_EVERY, last + 60 * DAY, TICK_EVERY))
    evs = ((e["recorded_at"], 0, "event", e) for e in events)
    decl = ((at, 1, "mark", (source, up_to, at)) for at, source, up_to in marks)
    yield from heapq.merge(evs, decl, ticks, key=lambda r: (r[0], r[1]))


@dataclass
class Run:
    name: str
    alerts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)   # (clock at emission, record)
    notices: list[dict[str, Any]] = field(default_factory=list)
    late: dict[str, int] = field(default_factory=dict)
    late_retracted: dict[str, int] = field(default_factory=dict)
    causes: dict[tuple[str, str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    """(rule, event type, source) of the events that retracted alerts -> how far each had
    occurred behind its source's watermark in force, hours (negative: ahead of it)"""
    seconds: float = 0.0


def run(name: str, policy: Policy, records: list[Record], with_marks: bool) -> Run:
    p = PartitionProcessor(Engine(policy), {}, 0)
    out = Run(name)
    started = time.process_time()
    for n, (_, _, kind, value) in enumerate(records):
        if kind == "event":
            o = p.on_event(value)
        elif kind == "tick":
            o = p.on_tick(value)
        elif with_marks:
            o = p.on_watermark(*value)
        else:
            continue
        if o.alerts:
            out.alerts.extend((p.clock_ms, r) for _, r in o.alerts)
            if kind == "event" and p.marks.active:
                mark = p.marks.mark(value["source"], p.clock_ms)
                behind = (mark - value["occurred_at"]) / HOUR if mark is not None else float("nan")
                for _, r in o.alerts:
                    if r["change"] == "RETRACTED":
                        out.causes[(r["rule"], value["event_type"], value["source"])].append(behind)
        out.notices.extend(r for _, r in o.notifications)
        if n % 500 == 0:   # the glue takes the writes per batch; the store is not needed here
            p.drain_writes()
    out.seconds = time.process_time() - started
    out.late, out.late_retracted = dict(p.marks.late), dict(p.marks.retracted)
    return out


@dataclass
class Figures:
    opened: int = 0
    retracted: int = 0
    false_notices: int = 0
    pending: int = 0
    withdrawn: int = 0
    delays_h: list[float] = field(default_factory=list)
    opened_at: dict[str, int] = field(default_factory=dict)   # real alert -> clock when it opened

    @property
    def share(self) -> float:
        return self.retracted / self.opened if self.opened else 0.0


def figures(result: Run) -> dict[str, Figures]:
    by_alert: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for clock, r in result.alerts:
        by_alert[r["alert_id"]].append((clock, r))
    out: dict[str, Figures] = defaultdict(Figures)
    retracted_ids = set()
    for alert, changes in by_alert.items():
        f = out[changes[0][1]["rule"]]
        kinds = [r["change"] for _, r in changes]
        f.pending += "PENDING" in kinds
        f.withdrawn += "WITHDRAWN" in kinds
        if "OPENED" not in kinds:
            continue
        f.opened += 1
        first_open = kinds.index("OPENED")
        if "RETRACTED" in kinds[first_open:]:
            f.retracted += 1
            retracted_ids.add(alert)
        else:
            clock, r = changes[first_open]
            f.delays_h.append(max(0, clock - r["deadline"]) / HOUR)
            f.opened_at[alert] = clock
    rule_of = {a: c[0][1]["rule"] for a, c in by_alert.items()}
    for n in result.notices:
        if n["kind"] != "CORRECTION" and n["fact_id"] in retracted_ids:
            out[rule_of[n["fact_id"]]].false_notices += 1
    return out


def total(per_rule: dict[str, Figures]) -> Figures:
    t = Figures()
    for f in per_rule.values():
        t.opened += f.opened
        t.retracted += f.retracted
        t.false_notices += f.false_notices
        t.pending += f.pending
        t.withdrawn += f.withdrawn
        t.delays_h += f.delays_h
    return t


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(runs: list[Run], lateness: dict[str, float], sources_of: dict[str, tuple[str, ...]]) -> None:
    tables = {r.name: figures(r) for r in runs}
    rules = sorted({rule for t in tables.values() for rule in t})
    header = f"{'rule':26} {'run':10} {'opened':>7} {'retr':>6} {'share':>7} {'falseN':>6} {'pend':>6} " \
             f"{'wdrawn':>6} {'delay p50 h':>11} {'p90 h':>8}"
    print(header)
    print("-" * len(header))
    for rule in [*rules, "TOTAL"]:
        for r in runs:
            f = total(tables[r.name]) if rule == "TOTAL" else tables[r.name].get(rule, Figures())
            print(f"{rule:26} {r.name:10} {f.opened:7d} {f.retracted:6d} {f.share:7.1%} {f.false_notices:6d} "
                  f"{f.pending:6d} {f.withdrawn:6d} {pct(f.delays_h, 0.5):11.1f} {pct(f.delays_h, 0.9):8.1f}")
    print()
    print("lateness by source (recorded_at - occurred_at), median / p90 hours: " + ", ".join(
        f"{s} {lateness[s + ':50']:.0f}/{lateness[s + ':90']:.0f}" for s in SOURCES if s + ":50" in lateness))
    for r in runs:
        if r.late:
            print(f"{r.name}: events behind their source's watermark {r.late}; retractions they caused "
                  f"{r.late_retracted}")
        print(f"{r.name}: {r.seconds:.1f} s CPU")
        if r.causes:
            print(f"{r.name}: retractions by their cause (rule, event, source: count, occurred behind the "
                  "watermark p50 / p90 h):")
            ranked = sorted(r.causes.items(), key=lambda kv: -len(kv[1]))
            for (rule, etype, source), behind in ranked[:10]:
                print(f"   {rule:26} {etype:26} {source:12} {len(behind):5d} "
                      f"{pct(behind, 0.5):8.0f} / {pct(behind, 0.9):6.0f}")
    print()
    base = tables[runs[0].name]
    for r in runs[1:]:
        t = total(tables[r.name])
        worst = max(((f.share, rule) for rule, f in tables[r.name].items() if f.opened >= 20), default=(0.0, "-"))
        print(f"[{r.name}] retracted share overall {t.share:.2%}; worst rule (>= 20 opened) {worst[1]} {worst[0]:.2%}; "
              f"false notices {t.false_notices}")
        for rule, f in sorted(tables[r.name].items()):
            if not f.delays_h or not sources_of.get(rule):
                continue
            opened_before = base.get(rule, Figures()).opened_at
            added = [(at - opened_before[a]) / HOUR for a, at in f.opened_at.items() if a in opened_before]
            typical = max(lateness.get(s + ":50", 0.0) for s in sources_of[rule])
            flag = "ok" if pct(added, 0.5) <= typical else "OVER"
            awaited = "/".join(sources_of[rule]) if len(sources_of[rule]) < 4 else "its sources"
            print(f"   {rule:26} added delay p50 {pct(added, 0.5):7.1f} h, p90 {pct(added, 0.9):7.1f} h "
                  f"vs typical lateness of {awaited} {typical:6.1f} h: {flag}")


def graces(text: str) -> dict[str, int]:
    """`--grace`: "3d" for every source, or "CBP=3d,ORR=1d"."""
    if "=" not in text:
        return dict.fromkeys(SOURCES, parse_duration(text))
    out = {}
    for part in text.split(","):
        source, _, duration = part.partition("=")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
        out[source] = parse_duration(duration)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--feed", choices=("load", "event"), default="load")
    parser.add_argument("--outage", help="SOURCE,FROM,UNTIL (ISO-8601 UTC)")
    parser.add_argument("--out-of-order", type=float, default=FeedRates.out_of_order_share,
                        help="share of events held back past the child's next event (unknowable to a source)")
    parser.add_argument("--percentile", type=float, default=99.0, help="estimated watermarks: lateness percentile")
    parser.add_argument("--vouch", type=float, default=VOUCH_PERCENTILE,
                        help="declared watermarks: the percentile of its processing lag a source allows for")
    parser.add_argument("--ceiling", default="30d", help="estimated watermarks: the most an alert waits")
    parser.add_argument("--grace", help="a fourth run, declared watermarks less a grace: DURATION for every "
                                        "source, or SOURCE=DURATION,...")
    args = parser.parse_args(argv)
    if not 0 < args.vouch < 100:
        parser.error("--vouch: a percentile between 0 and 100")
    try:
        grace = graces(args.grace) if args.grace else None
    except ValueError as exc:
        parser.error(f"--grace: {exc}")
    outage = None
    if args.outage:
        parts = args.outage.split(",")
        if len(parts) != 3:
            parser.error("--outage takes SOURCE,FROM,UNTIL")
        outage = (parts[0], parts[1], parts[2])
    started = time.time()
    config = simulation_config(args.children, args.seed, args.feed == "load", outage, args.out_of_order)
    events = simulated(config)
    lateness: dict[str, float] = {}
    by_source: dict[str, list[float]] = defaultdict(list)
    for e in events:
        by_source[e["source"]].append((e["recorded_at"] - e["occurred_at"]) / HOUR)
    for source, values in by_source.items():
        lateness[source + ":50"] = statistics.median(values)
        lateness[source + ":90"] = pct(values, 0.9)
    marks = declarations(config, events[0]["recorded_at"], events[-1]["recorded_at"], vouch=args.vouch)
    records = list(log(events, marks))
    print(f"{args.children} children, seed {args.seed}, feed {args.feed}: {len(events)} events, "
          f"{len(marks)} declared watermarks, {Counter(k for _, _, k, _ in records)['tick']} ticks "
          f"(simulated in {time.time() - started:.0f} s)\n")
    policy = default_policy()
    estimated = replace(policy, feeds=Feeds(sources=tuple(
        SourceFeed(s, estimate=True, percentile=args.percentile, ceiling_ms=parse_duration(args.ceiling))
        for s in SOURCES)))
    runs = [run("none", policy, records, with_marks=False),
            run("declared", policy, records, with_marks=True),
            run("estimated", estimated, records, with_marks=False)]
    if grace:
        graced = replace(policy, feeds=replace(policy.feeds, sources=tuple(
            SourceFeed(s, grace_ms=ms) for s, ms in grace.items())))
        runs.append(run("grace", graced, records, with_marks=True))
        print("grace: " + ", ".join(f"{s} {ms / HOUR:g} h" for s, ms in grace.items()))
    report(runs, lateness, rule_sources(policy))


if __name__ == "__main__":
    main()
