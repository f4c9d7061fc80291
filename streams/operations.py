"""A detection worker's operations side: /metrics, /healthz and /readyz, consumer lag, and
the clock watch; faust glue, none of it on the path of a record.

- /healthz: 200 while the worker's loop turns: a beat per batch (streams/app.py) and per
  run of the timer below (every `EVERY_S`, busy or idle), 503 after
  `streams.metrics.LIVE_STALL_S` without one; 200 while it starts (faust runs timers only
  once the table is first recovered, which may take long on a new volume).
- /readyz: 200 once the group has assigned this worker its partitions and their table is
  recovered from its changelog; a worker given no partition (more workers than partitions)
  is a ready spare. 503 with the reason otherwise.
- The timer (on the worker's event loop, every `EVERY_S`): the partitions held, their
  clocks (each processor's, else the one stored in the table), the clock lag and stall
  gauges, and, on each turn of the clock watch, one WARNING line and one CLOCK_STALLED
  alert change on the alerts topic (streams/clock_watch.py). The wall clock is read here
  only; the processor never sees it.
- Consumer lag: core/group_lag.py, on a thread of its own.
- The commit watch (streams/commit_watch.py): a partition faust no longer commits ends the
  process, like a half-written batch, rather than being processed on uncommitted for good.
- The stall watch (streams/stall_watch.py): a partition held whose committed position the
  broker shows standing still with records behind it, for any reason, ends it too; checked
  during a rebalance or a recovery as well, which is where a stall would hide. So does a
  table recovery that reads nothing more of a changelog partition it has not finished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import faust

from ucwatch.core.errors import SettingsError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.group_lag import GroupLag
from ucwatch.core.health import HealthServer, serve_health
from ucwatch.core.settings import Settings
from ucwatch.streams.clock_watch import ClockWatch, describe, stall_alert
from ucwatch.streams.commit_watch import CommitWatch
from ucwatch.streams.durable import leave_now
from ucwatch.streams.metrics import DetectMetrics
from ucwatch.streams.rights import source_topics
from ucwatch.streams.stall_watch import StallWatch

log = logging.getLogger("ucwatch.streams.operations")
EVERY_S = 1.0
ALERT_SEND_TIMEOUT_S = 30.0
RECOVERY_SHARE = 1 / 6
"""A recovery that reads nothing while its changelog holds more is stalled after this share
of `partition_stall_s` (15 s of 90): a fetch answers within 1.5 s, and faust itself
warns of a recovery that received nothing for 30 s."""


class Watched(Protocol):
    """What the operations side needs of the detector (streams/app.py)."""

    def clocks(self, partitions: Iterable[int]) -> dict[int, int]: ...

    def send_alert(self, key: str, record: dict[str, Any]) -> Awaitable[Awaitable[Any]]: ...

    def batch_progress(self) -> str: ...


class WorkerOperations:
    def __init__(self, app: faust.App, settings: Settings, worker_name: str,
                 wall: Callable[[], float] = time.time) -> None:
        port = settings.streams.metrics_port
        if not 0 <= port <= 65535:
            raise SettingsError("setting streams.metrics_port must be a port number (0: any free port)")
        self.metrics = DetectMetrics()
        self._app = app
        self._settings = settings
        self._name = worker_name
        self._topic = settings.topics.lifecycle.name
        self._topics = {t.name for t in source_topics(settings)}  # ingestion topics: co-partitioned
        self._wall = wall
        self._watch = ClockWatch(settings.streams.clock_stall_s, wall=wall)
        self._commits = CommitWatch()
        self._stalls = StallWatch(settings.streams.partition_stall_s)
        self._recovery_stalls = StallWatch(settings.streams.partition_stall_s * RECOVERY_SHARE)
        self._held: tuple[tuple[str, int], ...] = ()
        self._held_of = 0
        """The rebalance (faust's count) `_held` was taken after."""
        self._detector: Watched | None = None
        self._server: HealthServer | None = None
        self._lag: GroupLag | None = None

    def attach(self, detector: Watched) -> None:
        """Serves the endpoints and measures the lag from now on, and watches `detector` once
        the app runs (faust starts timers after the first recovery of the table)."""
        self._detector = detector
        self._app.timer(EVERY_S, name="ucwatch-operations")(self._tick)
        self._server = serve_health(self.metrics.registry, self.live, self.ready,
                                    self._settings.streams.metrics_port, what=f"worker {self._name}", logger=log,
                                    host=self._settings.streams.metrics_host)
        self._lag = GroupLag(self._settings, self._settings.streams.app_id, self.metrics.consumer_lag,
                             lambda: self._held).start()
        self._app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]  # mode's NamedArg alias

    async def _on_shutdown(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._lag is not None:
            self._lag.close()
        if self._server is not None:
            self._server.stop()

    def live(self) -> tuple[bool, str]:
        if not self._recovered():
            return True, "starting: joining the group and recovering the table (the timer starts after)"
        return self.metrics.heartbeat.check()

    def ready(self) -> tuple[bool, str]:
        app = self._app
        if not app.rebalancing_count:
            return False, "waiting for the consumer group to assign partitions"
        if app.rebalancing:
            return False, "the consumer group is rebalancing"
        if app.in_recovery or not self._recovered():
            return False, "recovering the table of child states from its changelog"
        if self._held_of != app.rebalancing_count:
            return False, "taking over the partitions assigned"
        held = sorted({p for _, p in self._held})
        if not held:
            return True, f"no partition of {self._topic} assigned: a spare (more workers than partitions)"
        return True, f"partitions {held} of {self._topic}"

    def _recovered(self) -> bool:
        """Whether the table's first recovery has completed."""
        recovery = self._app.tables.recovery  # type: ignore[attr-defined]  # TableManager's, not in TableManagerT
        return bool(recovery.completed.is_set())

    async def _tick(self) -> None:
        self.metrics.heartbeat.beat()
        app = self._app
        rebalance = app.rebalancing_count
        if not app.rebalancing:  # what the group gave, while the table recovers too: the lag is measured for it
            self._held = tuple(sorted((tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
                                      if tp.topic in self._topics))
        self._check_stalls()
        if self._detector is None or app.rebalancing or app.in_recovery:
            return  # the table is being filled: its clocks are not final yet
        self._check_commits()
        clocks = self._detector.clocks(sorted({p for _, p in self._held}))
        lags, turns = self._watch.observe(clocks)
        for turn in turns:
            log.warning(describe(turn, self._topic, self._watch.threshold_s))
        self.metrics.clocks(clocks, lags, self._watch.stalled())
        self._held_of = rebalance
        for turn in turns:
            key, record = stall_alert(turn, self._topic, self._watch.threshold_s, int(self._wall() * 1000))
            try:
                sent = await self._detector.send_alert(key, record)
                await asyncio.wait_for(sent, ALERT_SEND_TIMEOUT_S)
            except Exception as exc:  # not lost from sight: the gauge and the warning above still say it
                log.error("the %s alert of %s partition %d was not sent: %s: %s", record["change"], self._topic,
                          turn.partition, type(exc).__name__, exc)

    def _check_stalls(self) -> None:
        if self._lag is None or self._stalls.grace_s <= 0:
            return
        # faust-streaming 0.15 private API: how far the table's recovery has read its changelog
        recovery = self._app.tables.recovery  # type: ignore[attr-defined]  # TableManager's, not in TableManagerT
        read = (tuple(sorted(recovery.active_offsets.items())), tuple(sorted(recovery.standby_offsets.items())))
        stalled = self._stalls.observe(self._lag.positions, read)
        # the table's recovery, per changelog partition: (last offset read, last offset to read).
        # While Kafka does not answer, a recovery cannot read and is not stalled: its grace
        # starts again once Kafka answers (seen in CI: an outage that began during a
        # recovery ended the worker after 15 s).
        reading = {(tp.topic, tp.partition): (recovery.active_offsets.get(tp), highwater)
                   for tp, highwater in recovery.active_highwaters.items()
                   } if recovery.in_recovery and self._lag.answering else {}
        stalled += self._recovery_stalls.observe(
            {tp: (offset, highwater) for tp, (offset, highwater) in reading.items()
             if offset is not None and highwater is not None}, None)
        if stalled:
            consumer = self._app.consumer
            for partition in stalled:
                tp = next((tp for tp in self._app.assignor.assigned_actives()
                           if (tp.topic, tp.partition) == partition.partition), None)
                acked = consumer._acked.get(tp) if tp is not None else None  # type: ignore[attr-defined]
                log.critical("%s (faust: rebalancing %s, in recovery %s, still assigned %s, paused %s, "
                             "committed %s, lowest acked %s; the detector: %s)", partition.describe(),
                             self._app.rebalancing, self._app.in_recovery, tp is not None,
                             tp in consumer._paused_partitions,  # type: ignore[attr-defined]
                             consumer._committed_offset.get(tp),  # type: ignore[attr-defined]
                             min(acked) if acked else None,
                             self._detector.batch_progress() if self._detector is not None else "not attached")
            leave_now(ExitCode.UNDELIVERED)

    def _check_commits(self) -> None:
        # faust-streaming 0.15 private API: the consumer's committed offsets and acked offsets
        consumer = self._app.consumer
        committed, acked = consumer._committed_offset, consumer._acked  # type: ignore[attr-defined]
        heads = {(tp.topic, tp.partition): (committed.get(tp), min(acked[tp], default=None) if tp in acked else None)
                 for tp in self._app.assignor.assigned_actives() if tp.topic in self._topics}
        stuck = self._commits.observe(heads)
        if stuck:
            for partition in stuck:
                log.critical(partition.describe())
            leave_now(ExitCode.UNDELIVERED)
