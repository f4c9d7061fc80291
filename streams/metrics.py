"""A detection worker's Prometheus metrics, in a registry of its own (one per worker, so
tests can build several in one process), served by core/health.py.

    ucwatch_detect_records_total{kind}                records handled: event, tick, dead_letter
    ucwatch_detect_alerts_total{rule,change}          alert changes sent (OPENED, RESOLVED, ...)
    ucwatch_detect_notifications_total{recipient,kind}  notices sent to the notifications topic
    ucwatch_detect_dead_letters_total{reason}         records dead-lettered, by reason code
    ucwatch_detect_batch_seconds                      one batch: handled, sent, acknowledged, stored
    ucwatch_detect_consumer_lag{topic,partition}      records past the group's committed offset
    ucwatch_detect_partitions                         lifecycle partitions this worker holds
    ucwatch_clock_seconds{partition}                  the partition's log clock (Unix time)
    ucwatch_clock_lag_seconds{partition}              wall clock minus the log clock
    ucwatch_clock_stalled{partition}                  1 while the clock is stalled (streams/clock_watch.py)

Everything is updated once per batch (`batch`) or by the worker's timer, never per record:
the per-record cost is the tick count the glue keeps anyway.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ucwatch.core.health import Heartbeat
from ucwatch.streams.processor import Outputs

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 150)
LIVE_STALL_S = 60.0
"""/healthz turns 503 when neither a batch nor the worker's timer has run for this long."""


class DetectMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.heartbeat = Heartbeat(stall_s=LIVE_STALL_S)
        self.records = Counter("ucwatch_detect_records", "Lifecycle records handled, by kind", ["kind"], registry=r)
        self.alerts = Counter("ucwatch_detect_alerts", "Alert changes sent, by rule and change", ["rule", "change"],
                              registry=r)
        self.notifications = Counter("ucwatch_detect_notifications", "Notices sent, by recipient and kind",
                                     ["recipient", "kind"], registry=r)
        self.dead_letters = Counter("ucwatch_detect_dead_letters", "Records dead-lettered, by reason",
                                    ["reason"], registry=r)
        self.batch_seconds = Histogram("ucwatch_detect_batch_seconds",
                                       "One batch handled, its outputs acknowledged and its states stored",
                                       buckets=BATCH_BUCKETS, registry=r)
        self.consumer_lag = Gauge("ucwatch_detect_consumer_lag", "Records past the group's committed offset",
                                  ["topic", "partition"], registry=r)
        self.partitions = Gauge("ucwatch_detect_partitions", "Lifecycle partitions this worker holds", registry=r)
        self.clock = Gauge("ucwatch_clock_seconds", "The partition's log clock (largest tick or recorded_at)",
                           ["partition"], registry=r)
        self.clock_lag = Gauge("ucwatch_clock_lag_seconds", "Wall clock minus the partition's log clock",
                               ["partition"], registry=r)
        self.clock_stalled = Gauge("ucwatch_clock_stalled",
                                   "1 while the partition's clock trails the wall clock past the threshold and "
                                   "does not move", ["partition"], registry=r)
        self._held: set[int] = set()
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}
        self._kinds = {kind: self.records.labels(kind) for kind in ("event", "tick", "dead_letter")}

    def batch(self, records: int, ticks: int, dead_letters: int, outputs: Outputs, seconds: float) -> None:
        """One batch written: `records` handled, of which `ticks` ticks and `dead_letters` dead
        letters, and `outputs` sent."""
        self.heartbeat.beat()
        kinds = self._kinds
        kinds["event"].inc(records - ticks - dead_letters)
        if ticks:
            kinds["tick"].inc(ticks)
        if dead_letters:
            kinds["dead_letter"].inc(dead_letters)
        for _, alert in outputs.alerts:
            self._child(self.alerts, alert["rule"], alert["change"]).inc()
        for _, notice in outputs.notifications:
            self._child(self.notifications, notice["recipient"], notice["kind"]).inc()
        self.batch_seconds.observe(seconds)

    def _child(self, counter: Counter, *labels: str) -> Counter:
        """`counter.labels(*labels)`, kept: prometheus_client takes a lock and builds a key each time."""
        child = self._children.get((counter, labels))
        if child is None:
            child = self._children[(counter, labels)] = counter.labels(*labels)
        return child

    def clocks(self, clocks: Mapping[int, int], lags: Mapping[int, float], stalled: list[int]) -> None:
        """The partitions held now, their clocks (ms), lags (s) and which are stalled."""
        for gone in self._held - clocks.keys():
            for gauge in (self.clock, self.clock_lag, self.clock_stalled):
                gauge.remove(str(gone))
        self._held = set(clocks)
        for partition, clock_ms in clocks.items():
            label = str(partition)
            self.clock.labels(label).set(clock_ms / 1000)
            self.clock_lag.labels(label).set(lags[partition])
            self.clock_stalled.labels(label).set(1 if partition in stalled else 0)
        self.partitions.set(len(clocks))
