"""`ucwatch notify`: check the endpoints and topics, read the log, deliver until stopped.

Settings are checked before Kafka is touched (a missing secret is a usage error, not a
crash later); the topics must exist (`ucwatch topics create`) and the delivery log must
have as many partitions as the notifications topic. SIGTERM or SIGINT stop it within a
few seconds (notify/notifier.py, `_finish`).
"""

from __future__ import annotations

import logging
import random
import signal
import threading

from ucwatch.core.errors import SettingsError, TopicMissing
from ucwatch.core.health import HealthServer, Heartbeat
from ucwatch.core.kafka_admin import wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.notify.coordinator import Coordinator
from ucwatch.notify.endpoints import Sender, budget, build_senders
from ucwatch.notify.lag import LagProbe
from ucwatch.notify.metrics import NotifyMetrics
from ucwatch.notify.notifier import Notifier
from ucwatch.notify.observe import DeliveryObserver
from ucwatch.notify.outbox import KafkaOutbox
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder

log = logging.getLogger("ucwatch.notify")


def run_notifier(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    senders = build_senders(settings.notify)
    try:
        _run(settings, senders, stop)
    finally:
        for sender in senders:
            sender.close()


def _run(settings: Settings, senders: list[Sender], stop: threading.Event) -> None:
    retry_budget = budget(settings.notify)
    check_topics(settings)
    _stop_on_signals(stop)
    catalog = default_catalog()
    registry = registry_for(settings.schema_registry.url, catalog)
    metrics = NotifyMetrics()
    budget_text = f"up to {retry_budget.max_attempts} attempts over about {_duration(retry_budget.worst_case_s())}"
    outbox = KafkaOutbox(settings, registry, catalog)
    observer = DeliveryObserver(metrics, budget_text)
    coordinator = Coordinator({s.endpoint.recipient: [t.endpoint for t in senders
                                                      if t.endpoint.recipient == s.endpoint.recipient]
                               for s in senders},
                              retry_budget, outbox, observer, rng=random.Random())
    heartbeat = Heartbeat()
    lag = LagProbe(settings, metrics.lag)
    notifier = Notifier(settings, coordinator=coordinator, outbox=outbox,
                        senders={s.endpoint.name: s for s in senders},
                        decoders=(Decoder(registry, catalog), Decoder(registry, catalog, logical_types=False)),
                        metrics=metrics, stop=stop, beat=heartbeat.beat, tick=observer.tick, lag=lag)

    def ready() -> tuple[bool, str]:
        if not notifier.rebalanced:
            return False, "waiting for the consumer group to assign partitions"
        if outbox.failing:
            return False, "Kafka does not acknowledge writes"
        return True, f"partitions {coordinator.partitions} of {settings.topics.notifications.name}"

    health = HealthServer(metrics.registry, heartbeat.check, ready, settings.notify.metrics_port,
                          settings.notify.metrics_host).start()
    log.warning("notifier: %s; retries %s; metrics and health at %s",
                ", ".join(f"{s.endpoint.recipient} by {s.endpoint.name}" for s in senders), budget_text, health.url)
    try:
        notifier.run()
    finally:
        health.stop()
        lag.close()
    log.warning("notifier stopped")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_topics(settings: Settings) -> None:
    topics = settings.topics
    if topics.deliveries.partitions != topics.notifications.partitions:
        raise SettingsError(f"topics.deliveries.partitions ({topics.deliveries.partitions}) must equal "
                            f"topics.notifications.partitions ({topics.notifications.partitions})")
    present = wait_for_kafka(settings).list_topics(timeout=30).topics
    for topic in (topics.notifications, topics.deliveries, topics.alerts, topics.deadletter):
        if topic.name not in present:
            raise TopicMissing(topic.name, "it does not exist")
    have = {name: len(present[name].partitions) for name in (topics.notifications.name, topics.deliveries.name)}
    if have[topics.notifications.name] != have[topics.deliveries.name]:
        raise SettingsError(f"topic {topics.deliveries.name} has {have[topics.deliveries.name]} partitions and "
                            f"{topics.notifications.name} {have[topics.notifications.name]}; they must be equal")


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
