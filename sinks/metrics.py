"""The sink's Prometheus metrics, in a registry of its own (one per sink, so tests can build
several in one process), served with /healthz and /readyz by core/health.py (sinks/run.py).

    ucwatch_sink_rows_total{table}                 rows written (those written again after a restart included)
    ucwatch_sink_batch_insert_seconds{table}       one batch: ledger entry and insert, retries included
    ucwatch_sink_replayed_batches_total            batches formed again from the ledger after a restart
    ucwatch_sink_consumer_lag{topic,partition}     records past the group's committed offset (core/group_lag.py)
    ucwatch_sink_partitions                        partitions this sink holds

Updated per batch and per rebalance, never per record. The heartbeat beats once per pass of
the sink's loop; /healthz turns 503 after `LIVE_STALL_S` without one (a loop waiting that
long for ClickHouse is restarted, and resumes from its ledger).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ucwatch.core.health import Heartbeat

INSERT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
LIVE_STALL_S = 300.0


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.heartbeat = Heartbeat(stall_s=LIVE_STALL_S)
        self.rows = Counter("ucwatch_sink_rows", "Rows written, by table", ["table"], registry=r)
        self.insert_seconds = Histogram("ucwatch_sink_batch_insert_seconds",
                                        "One batch written: its ledger entry and its insert, retries included",
                                        ["table"], buckets=INSERT_BUCKETS, registry=r)
        self.replayed = Counter("ucwatch_sink_replayed_batches",
                                "Batches formed again from the ledger after a restart", registry=r)
        self.consumer_lag = Gauge("ucwatch_sink_consumer_lag", "Records past the group's committed offset",
                                  ["topic", "partition"], registry=r)
        self.partitions = Gauge("ucwatch_sink_partitions", "Partitions this sink holds", registry=r)
