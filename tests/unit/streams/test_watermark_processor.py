"""Source watermarks in the partition processor (no Kafka): declared watermarks release
PENDING alerts, a restarted processor still knows its watermarks and its pending children,
a stalled feed raises one FEED_STALLED on partition 0 and resolves it, late events behind
the watermark are counted per source, and a replay with watermarks gives the same records."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.unit.streams.detect_support import DAY, HOUR, T0, TIMESTAMPS, event, ms
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.engine import Engine
from ucwatch.streams.feed_health import feed_health, render
from ucwatch.streams.policy import Feeds, SourceFeed
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import Outputs, PartitionProcessor

RULE = "DISCHARGE_NOTICE_OVERDUE"
DEADLINE = T0 + DAY


def persist(processor: PartitionProcessor, store: dict[str, Any]) -> None:
    writes = processor.drain_writes()
    store.update(writes.states)
    store.update(writes.clock)


def changes(outputs: Outputs, rule: str = RULE) -> list[tuple[str, str, int, int]]:
    return [(r["change"], r["status"], r["fired_at"], r["sequence"]) for _, r in outputs.alerts if r["rule"] == rule]


def release(child: int = 1) -> dict[str, Any]:
    return event("ReleasedToSponsor", T0, child=child, address_quality="VALID", source="ORR")


def test_a_declared_watermark_holds_then_releases_and_survives_a_restart() -> None:
    engine, store = Engine(default_policy()), {}
    p = PartitionProcessor(engine, store, 1)
    p.on_watermark("ORR", T0, T0)
    p.on_event(release())
    out = p.on_tick(DEADLINE + HOUR)
    assert changes(out) == [("PENDING", "PENDING", DEADLINE, 1)] and out.notifications == []
    persist(p, store)
    again = PartitionProcessor(engine, store, 1)        # a restart: watermarks and pending children rebuilt
    assert again.marks.declared == {"ORR": T0}
    assert changes(again.on_watermark("ORR", DEADLINE - 1, DEADLINE + DAY)) == []    # not yet past
    out = again.on_watermark("ORR", DEADLINE, DEADLINE + DAY)
    assert changes(out) == [("OPENED", "OPEN", DEADLINE, 2)]


def test_without_any_watermark_the_processor_writes_and_emits_as_before() -> None:
    engine, store = Engine(default_policy()), {}
    p = PartitionProcessor(engine, store, 1)
    p.on_event(release())
    assert changes(p.on_tick(DEADLINE + HOUR)) == [("OPENED", "OPEN", DEADLINE, 1)]
    writes = p.drain_writes()
    assert list(writes.clock) == ["__clock__:1"]      # no watermark row


def test_a_late_event_behind_the_watermark_retracts_and_is_counted_against_its_source() -> None:
    engine, store = Engine(default_policy()), {}
    p = PartitionProcessor(engine, store, 1)
    p.on_event(release())
    opened = p.on_watermark("ORR", DEADLINE + HOUR, DEADLINE + 2 * HOUR)   # its declared_at moves the clock
    assert changes(opened) == [("OPENED", "OPEN", DEADLINE, 1)]
    late = event("DischargeNotificationSent", DEADLINE - HOUR, recorded_at=DEADLINE + 3 * DAY, source="ORR")
    out = p.on_event(late)
    assert [c[0] for c in changes(out)] == ["RETRACTED"]
    assert p.marks.late == {"ORR": 1} and p.marks.retracted == {"ORR": 1}
    p.on_event(late)                                     # a repeat is not counted again
    assert p.marks.late == {"ORR": 1}


def watched() -> Engine:
    policy = default_policy()
    return Engine(replace(policy, feeds=Feeds(sources=(SourceFeed("EOIR", stall_after_ms=2 * DAY),))))


def test_a_stalled_feed_raises_one_alert_on_partition_zero_and_resolves_when_it_moves() -> None:
    engine = watched()
    processors = [PartitionProcessor(engine, {}, n) for n in range(3)]
    stalled: list[tuple[str, dict[str, Any]]] = []
    for p in processors:
        p.on_watermark("EOIR", T0, T0)
        for hours in range(0, 24 * 5, 6):                 # five days of ticks, the feed silent
            stalled += p.on_tick(T0 + hours * HOUR).alerts
    assert [(key, r["rule"], r["change"], r["status"], r["fired_at"]) for key, r in stalled] == [
        ("FEED:EOIR", "FEED_STALLED", "OPENED", "OPEN", T0 + 2 * DAY)]
    assert processors[0].on_tick(T0 + 6 * DAY).alerts == []          # once, not per tick
    resolved = processors[0].on_watermark("EOIR", T0 + 5 * DAY, T0 + 6 * DAY).alerts
    assert [(r["change"], r["status"], r["sequence"], r["alert_id"]) for _, r in resolved] == [
        ("RESOLVED", "RESOLVED", 2, stalled[0][1]["alert_id"])]


def test_an_estimated_feed_stalls_when_nothing_arrives_from_it() -> None:
    policy = default_policy()
    feed = SourceFeed("ORR", estimate=True, min_samples=1, stall_after_ms=3 * DAY)
    p = PartitionProcessor(Engine(replace(policy, feeds=Feeds(sources=(feed,)))), {}, 0)
    p.on_event(event("ReleasedToSponsor", T0, address_quality="VALID", source="ORR", recorded_at=T0 + HOUR))
    assert p.marks.mark("ORR", T0 + HOUR) == T0    # the clock minus the one lateness seen
    assert [r for _, r in p.on_tick(T0 + 3 * DAY).alerts if r["rule"] == "FEED_STALLED"] == []
    raised = [r for _, r in p.on_tick(T0 + 4 * DAY).alerts if r["rule"] == "FEED_STALLED"]
    assert [(r["change"], r["fired_at"]) for r in raised] == [("OPENED", T0 + HOUR + 3 * DAY)]
    assert p.marks.mark("ORR", T0 + 30 * DAY) == T0 + 3 * DAY   # the estimate stops with the feed


# replay determinism -----------------------------------------------------------------------

def log_with_watermarks(children: int = 50, seed: int = 11) -> list[tuple[str, Any]]:
    """A simulated partition log in arrival order, each source declaring, once a day, that it
    is complete up to the earliest occurred_at it has not delivered yet (the truth)."""
    events = []
    for e in Simulation(SimulationConfig(seed=seed, children=children)).events():
        for name in TIMESTAMPS:
            if isinstance(e.get(name), str):
                e[name] = ms(e[name])
        events.append(e)
    records: list[tuple[str, Any]] = []
    next_day = events[0]["recorded_at"] // DAY * DAY + DAY
    for i, e in enumerate(events):
        while e["recorded_at"] >= next_day:
            for source in ("ORR", "EOIR"):
                waiting = [x["occurred_at"] for x in events[i:] if x["source"] == source]
                records.append(("mark", (source, min([*waiting, next_day]) - 1, next_day)))
            next_day += DAY
        records.append(("event", e))
    return records


def run(engine: Engine, records: list[tuple[str, Any]], restart_every: int | None = None) -> list[Any]:
    store: dict[str, Any] = {}
    p = PartitionProcessor(engine, store, 0)
    out: list[Any] = []
    for n, (kind, value) in enumerate(records, 1):
        o = p.on_event(dict(value)) if kind == "event" else p.on_watermark(*value)
        out += o.alerts + o.notifications
        if restart_every and n % restart_every == 0:
            persist(p, store)
            p = PartitionProcessor(engine, store, 0)    # a restart: states, clock, watermarks from the store
    return out


def test_a_replay_with_watermarks_gives_the_same_records_with_or_without_restarts() -> None:
    engine = Engine(default_policy())
    records = log_with_watermarks()
    first = run(engine, records)
    assert any(r["status"] == "PENDING" for _, r in first if "status" in r)
    assert first == run(engine, records)
    assert first == run(engine, records, restart_every=97)


def test_feed_health_merges_the_partitions_rows() -> None:
    engine = watched()
    rows = []
    for n in range(2):
        p = PartitionProcessor(engine, {}, n)
        p.on_watermark("EOIR", T0 + n * DAY, T0 + 2 * DAY)
        p.on_event(event("HearingScheduled", T0, child=n + 1, source="EOIR", recorded_at=T0 + 2 * DAY + n * HOUR))
        rows.append(p.marks.to_dict())
    health = feed_health(rows, [T0 + 3 * DAY, T0 + 2 * DAY])
    assert [(h["source"], h["watermark"], h["lag_ms"], h["events"], h["last_event"]) for h in health] == [
        ("EOIR", T0, 3 * DAY, 2, T0 + 2 * DAY + HOUR)]      # complete everywhere up to the lowest
    assert "EOIR" in render(health) and "ok" in render(health)


def test_a_replay_with_estimated_watermarks_gives_the_same_records_across_restarts() -> None:
    policy = default_policy()
    feeds = Feeds(sources=tuple(SourceFeed(s, estimate=True, window=50, min_samples=5, ceiling_ms=20 * DAY)
                                for s in ("ORR", "ORR_PROVIDER", "EOIR", "CBP", "ICE")))
    engine = Engine(replace(policy, feeds=feeds))
    records = [r for r in log_with_watermarks() if r[0] == "event"]
    first = run(engine, records)
    assert any(r["status"] == "PENDING" for _, r in first if "status" in r)
    assert first == run(engine, records, restart_every=61)
