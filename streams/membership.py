"""How a worker takes part in its consumer group, and what it says while it waits.

- **Static membership** (`group.instance.id`): a worker restarted under the same name on
  the same host takes its partitions back at once. With a fresh member id, the group
  waited for the killed member's session to expire (faust's default, 60 s) before it
  rebalanced: a restart stalled about a minute in silence. The id is made of the app id,
  the host, the worker's name and its state folder; two live workers must never share one
  (the broker would hand both the same partitions, alternately), so a worker holds a lock
  on its state folder while it runs (worker.py) and a second one with the same name and
  folder is refused.
- **A short session** (`SESSION_TIMEOUT_S`): when a worker dies for good, its partitions
  go to the others this long after its last heartbeat (was 60 s). Heartbeats run on the
  event loop, so a batch must never block it that long; batches take well under a second.
- **Logging**: the worker says when it joins the group and for what it waits, once and
  then every `REPORT_EVERY_S`, and when partitions are assigned or revoked.

docs/detect.md ("Restarts and rebalances") has the measured figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from pathlib import Path
from typing import Any

import faust

log = logging.getLogger(__name__)
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0
REPORT_EVERY_S = 30.0


def instance_id(app_id: str, worker_name: str, state_dir: Path) -> str:
    """Stable across restarts of the same worker, distinct between workers, hosts and state
    folders."""
    folder = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"{app_id}-{socket.gethostname()}-{worker_name}-{folder}"


def group_options(member: str) -> dict[str, Any]:
    """faust App settings for the consumer group, `member` being the worker's instance id."""
    return {"consumer_group_instance_id": member,
            "broker_session_timeout": SESSION_TIMEOUT_S,
            "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S}


class MembershipLog:
    """Reports the worker's place in its group from faust's rebalance signals."""

    def __init__(self, app: faust.App, app_id: str, member: str, source_topic: str) -> None:
        self._group = app_id
        self._member = member
        self._topic = source_topic
        self._waiting_since: float | None = time.monotonic()
        # mode types handlers with a NamedArg alias that no function satisfies under mypy
        app.on_partitions_revoked.connect(self._revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._assigned)  # type: ignore[arg-type]
        app.task(self._report_waiting)
        log.info("joining consumer group %s as %s; a member that died without leaving is waited for up to "
                 "%.0f s (its session) before its partitions move", self._group, self._member, SESSION_TIMEOUT_S)

    async def _report_waiting(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            since = self._waiting_since
            if since is not None:
                log.warning("still waiting for consumer group %s to assign partitions (%.0f s); the group "
                            "is waiting for a member that left or died to rejoin or time out",
                            self._group, time.monotonic() - since)

    async def _revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        self._waiting_since = time.monotonic()
        mine = sorted(tp.partition for tp in revoked if tp.topic == self._topic)
        if mine:
            log.info("rebalance: %s partition(s) %s revoked; waiting for the new assignment", self._topic, mine)

    async def _assigned(self, sender: Any, assigned: Any, **kwargs: Any) -> None:
        since, self._waiting_since = self._waiting_since, None
        mine = sorted(tp.partition for tp in assigned if tp.topic == self._topic)
        waited = f" after {time.monotonic() - since:.1f} s" if since is not None else ""
        log.info("assigned %s partition(s) %s%s", self._topic, mine or "none", waited)
