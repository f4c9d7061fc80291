"""What every request handler of the console needs, in one object (`request.app.state.console`).

Built once by `console.server` (real Kafka, real clocks) or by a test (fakes for the
outbox and history, a fixed clock). Handlers reach nothing global.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ucwatch.console.audit_trail import AuditReader, not_configured
from ucwatch.console.children import ChildrenState
from ucwatch.console.fold import ConsoleState
from ucwatch.console.history import ChildHistory
from ucwatch.console.live import Broadcaster
from ucwatch.console.lockout import Lockout
from ucwatch.console.metrics import ConsoleMetrics
from ucwatch.console.outbox import Outbox
from ucwatch.console.oversight import Oversight
from ucwatch.console.sessions import SessionStore
from ucwatch.console.users import UserStore
from ucwatch.core.settings import Settings

Check = Callable[[], tuple[bool, str]]


def _now() -> datetime:
    return datetime.now(UTC)


def _no_oversight() -> Oversight:
    return Oversight(None, "the oversight figures are not configured")


@dataclass
class Console:
    settings: Settings
    users: UserStore
    outbox: Outbox
    history: Callable[[str], ChildHistory]
    """A child's events and state from ClickHouse (`console.history.child_history`)."""
    live: Check
    """/healthz: the feed thread runs."""
    ready: Check
    """/readyz: the state is rebuilt up to the end the topics had at start."""
    oversight: Callable[[], Oversight] = _no_oversight
    """The oversight report's figures (`console.oversight`), for the dashboard."""
    state: ConsoleState = field(default_factory=ConsoleState)
    children: ChildrenState = field(default_factory=ChildrenState)
    """Snapshots, notices and deliveries per child (`console.children`)."""
    audit: AuditReader = not_configured
    """A page of the audit trail from ClickHouse (`console.audit_trail.read_audit`), for the
    admin page."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Views computed from the state, keyed by name, with the state version they are of
    (read and written under `lock`)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    now: Callable[[], datetime] = _now
    monotonic: Callable[[], float] = time.monotonic
    sessions: SessionStore = field(init=False)
    lockout: Lockout = field(init=False)
    metrics: ConsoleMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = ConsoleMetrics(lambda: self.broadcaster.listeners)
        console = self.settings.console
        self.sessions = SessionStore(console.session_idle_minutes * 60, console.session_max_hours * 3600)
        self.lockout = Lockout(console.max_failed_logins, console.lockout_minutes * 60)
