"""The console's Prometheus metrics, in a registry of its own (one per console, so tests
can build several), served at ``/metrics`` on the console's metrics port
(`console.metrics_port`, `console.server`), not by the pages' server.

- ``ucwatch_console_page_views_total{page}``: pages shown (queue, alert, child,
  dashboard, admin); the queue's live refreshes are counted as ``queue_fragment``;
- ``ucwatch_console_actions_total{action}``: actions taken through this console and
  acknowledged by Kafka;
- ``ucwatch_console_sse_clients``: open live streams;
- ``ucwatch_console_feed_lag_records{topic}``: records on the topic not read by the feed
  yet (high watermark minus position, summed over partitions, refreshed every few seconds);
- ``ucwatch_console_feed_record_age_seconds``: wall clock minus the Kafka timestamp of the
  last record the feed read (grows while nothing arrives: read it with the lag);
- ``ucwatch_console_feed_ready``: 1 once the state is rebuilt;
- ``ucwatch_console_feed_skipped_total``: records that could not be decoded.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConsoleMetrics:
    def __init__(self, listeners: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.page_views = Counter("ucwatch_console_page_views", "Pages shown by the console", ["page"],
                                  registry=self.registry)
        self.actions = Counter("ucwatch_console_actions", "Actions taken through the console", ["action"],
                               registry=self.registry)
        self.sse_clients = Gauge("ucwatch_console_sse_clients", "Open live (Server-Sent Events) streams",
                                 registry=self.registry)
        if listeners is not None:
            self.sse_clients.set_function(lambda: float(listeners()))
        self.feed_lag = Gauge("ucwatch_console_feed_lag_records", "Records not read by the console's feed yet",
                              ["topic"], registry=self.registry)
        self.record_age = Gauge("ucwatch_console_feed_record_age_seconds",
                                "Wall clock minus the Kafka timestamp of the last record read",
                                registry=self.registry)
        self.ready = Gauge("ucwatch_console_feed_ready", "1 once the console's state is rebuilt",
                           registry=self.registry)
        self.skipped = Counter("ucwatch_console_feed_skipped", "Records the feed could not decode",
                               registry=self.registry)
