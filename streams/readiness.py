"""What a detection worker needs on Kafka before faust starts: its topics, all visible.

faust subscribes once, at start-up, and tolerates nothing missing quietly:
- a lifecycle topic created after the worker started is not seen until aiokafka's next
  metadata refresh (five minutes), so nothing is processed meanwhile;
- a send to a missing output topic waits on metadata, logging "Topic ... not found" ten
  times a second, and holds up the shutdown that SIGTERM asks for;
- faust creates the table's changelog topic itself just before its consumer joins the
  group; on a new broker the consumer's view of it may still have 0 partitions, and the
  first state write then fails (PartitionsMismatch).
So before building the app, the worker (1) waits until the topics it reads and writes
exist, saying so in one log line repeated every `LOG_EVERY_S`, and stops at once if its
principal lacks a right on them (streams/rights.py); (2) creates the changelog
topic of each table (compacted, as many partitions as the lifecycle topic) and faust's
assignor topic; (3) waits until every partition of all of them has a leader. Creating the
ucwatch topics themselves stays with `ucwatch topics create` and `ucwatch run`: a worker
does not guess partition counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ucwatch.core.kafka_admin import RefusalWatch, client_config, ensure_topics, kafka_reason
from ucwatch.core.settings import Settings, TopicSettings
from ucwatch.streams.rights import check_rights, output_topics, require_copartitioned, source_topics

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0
POLL_S = 1.0
TABLES = ("children",)
"""The faust tables of streams/app.py; each has a changelog topic `<app id>-<table>-changelog`."""


def needed_topics(settings: Settings) -> list[TopicSettings]:
    """The ucwatch topics a worker reads or writes."""
    return [*source_topics(settings), *output_topics(settings)]


def internal_topics(settings: Settings) -> list[TopicSettings]:
    """faust's own topics for this app id: a changelog per table, and the assignor's topic."""
    app_id = settings.streams.app_id
    partitions = settings.topics.lifecycle.partitions
    return [TopicSettings(f"{app_id}-{table}-changelog", partitions, compacted=True) for table in TABLES] + [
        TopicSettings(f"{app_id}-__assignor-__leader", 1)]


def wait_until_ready(settings: Settings, stop: threading.Event, *,
                     clock: Callable[[], float] = time.monotonic) -> bool:
    """Returns True once every topic the worker uses exists with a leader for each partition,
    the internal ones created if missing; False as soon as `stop` is set."""
    # While the broker is down librdkafka would log every refused connection; the wait
    # below says it once every LOG_EVERY_S instead.
    quiet = logging.getLogger("ucwatch.librdkafka.readiness")
    quiet.setLevel(logging.CRITICAL)
    refusals = RefusalWatch(settings)
    config: dict[str, Any] = {**client_config(settings), "logger": quiet, "error_cb": refusals.on_error}
    admin = AdminClient(config)
    wanted = needed_topics(settings)
    waiting = _Waiting(settings.kafka.bootstrap, stop, clock)

    def absent_or_denied() -> list[str]:
        # A topic this principal may not describe looks absent: waiting would never end, so
        # a right it lacks stops the worker here (KafkaAccessDenied), before faust starts.
        # Asked after `missing`, which fails fast while the broker is down. A refused login
        # (wrong password, unknown user, untrusted certificate) stops it too.
        try:
            absent = missing(admin, wanted)
        except KafkaException:
            refusals.raise_if_refused(admin)
            raise
        check_rights(admin, settings, absent_ok=True)
        return absent

    if not waiting.until(absent_or_denied, "to exist (create them with `ucwatch topics create`)"):
        return False
    check_rights(admin, settings)
    require_copartitioned(admin, settings)
    internal = internal_topics(settings)
    created = ensure_topics(admin, settings, internal)
    if created:
        log.info("created faust's internal topic(s) %s", ", ".join(created))
    return waiting.until(lambda: missing(admin, wanted + internal), "to have a leader for every partition")


def missing(admin: AdminClient, topics: list[TopicSettings]) -> list[str]:
    """The topics, among `topics`, that do not exist or have a partition without a leader;
    raises KafkaException when the broker does not answer."""
    metadata = admin.list_topics(timeout=POLL_S * 5).topics
    absent = []
    for topic in topics:
        found = metadata.get(topic.name)
        if (found is None or found.error is not None or not found.partitions
                or any(p.leader < 0 or p.error is not None for p in found.partitions.values())):
            absent.append(topic.name)
    return absent


class _Waiting:
    """Polls a condition until it holds, saying what it waits for when that changes and
    otherwise once every LOG_EVERY_S."""

    def __init__(self, bootstrap: str, stop: threading.Event, clock: Callable[[], float],
                 poll_s: float = POLL_S) -> None:
        self._bootstrap = bootstrap
        self._stop = stop
        self._clock = clock
        self._poll_s = poll_s
        self._started = clock()
        self._logged_at: float | None = None
        self._logged: str | None = None

    def until(self, absent: Callable[[], list[str]], condition: str) -> bool:
        while not self._stop.is_set():
            try:
                names = absent()
                problem = f"topic(s) {', '.join(names)} {condition}" if names else None
            except KafkaException as exc:
                problem = f"Kafka at {self._bootstrap} to answer ({kafka_reason(exc)})"
            if problem is None:
                if self._logged_at is not None:
                    log.warning("ready after waiting %.0f s; starting", self._clock() - self._started)
                    self._logged_at = self._logged = None
                return True
            now = self._clock()
            if problem != self._logged or self._logged_at is None or now - self._logged_at >= LOG_EVERY_S:
                self._logged_at, self._logged = now, problem
                log.warning("waiting for %s; %.0f s so far", problem, now - self._started)
            self._stop.wait(self._poll_s)
        return False
