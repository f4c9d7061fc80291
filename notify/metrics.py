"""The notifier's Prometheus metrics, in a registry of its own (one per notifier, so tests
can run several in one process).

    ucwatch_notify_delivered_total{recipient,channel}        notices delivered
    ucwatch_notify_undelivered_total{recipient,channel}      notices given up (dead-lettered, alert raised)
    ucwatch_notify_attempts_failed_total{recipient,channel}  failed attempts (retried or not)
    ucwatch_notify_skipped_total{recipient,channel}          not attempted: the delivery log says final
    ucwatch_notify_delivery_latency_seconds{recipient,channel}  notice written -> delivered (histogram)
    ucwatch_notify_attempt_seconds{recipient,channel}        one attempt (histogram)
    ucwatch_notify_endpoint_up{endpoint}                     1 if the endpoint's last attempt delivered
    ucwatch_notify_consumer_lag{partition}                   notices on the topic past the committed offset
    ucwatch_notify_pending                                   notices held, not finished
    ucwatch_notify_paused_partitions                         partitions paused for back-pressure
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LABELS = ("recipient", "channel")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.delivered = Counter("ucwatch_notify_delivered", "Notices delivered", LABELS, registry=r)
        self.undelivered = Counter("ucwatch_notify_undelivered",
                                   "Notices given up after their retry budget (dead-lettered, alert raised)",
                                   LABELS, registry=r)
        self.attempts_failed = Counter("ucwatch_notify_attempts_failed", "Failed delivery attempts", LABELS,
                                       registry=r)
        self.skipped = Counter("ucwatch_notify_skipped",
                               "Deliveries not attempted because the delivery log says they are final",
                               LABELS, registry=r)
        self.latency = Histogram("ucwatch_notify_delivery_latency_seconds",
                                 "From the notice's write on its topic to its delivery", LABELS,
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.attempt_seconds = Histogram("ucwatch_notify_attempt_seconds", "Duration of one delivery attempt",
                                         LABELS, buckets=ATTEMPT_BUCKETS, registry=r)
        self.endpoint_up = Gauge("ucwatch_notify_endpoint_up", "1 if the endpoint's last attempt delivered",
                                 ["endpoint"], registry=r)
        self.lag = Gauge("ucwatch_notify_consumer_lag", "Notices past the committed offset", ["partition"],
                         registry=r)
        self.pending = Gauge("ucwatch_notify_pending", "Notices held in memory, not finished", registry=r)
        self.paused = Gauge("ucwatch_notify_paused_partitions", "Partitions paused for back-pressure", registry=r)
