"""Builders shared by the console's unit tests: alert changes, actions, a console with fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ucwatch.console.actions import Action, ActionKind
from ucwatch.console.context import Console
from ucwatch.console.fold import AlertChange
from ucwatch.console.history import ChildHistory
from ucwatch.console.roles import Role
from ucwatch.console.users import UserStore
from ucwatch.core.errors import AuditNotWritten
from ucwatch.core.settings import ConsoleSettings, Settings

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CHILD = "SYN-CH-000000042"
PASSWORD = "correct horse battery"


def change(alert_id: str = "a1", sequence: int = 1, *, change: str = "OPENED", status: str = "OPEN",
           severity: str = "HIGH", rule: str = "LOST_CONTACT", child_id: str = CHILD,
           fired_at: datetime = T0) -> AlertChange:
    return AlertChange(alert_id=alert_id, child_id=child_id, rule=rule, change=change, status=status,
                       severity=severity, deadline=fired_at - timedelta(days=1), fired_at=fired_at,
                       reason="three calls without contact", basis="policy", sequence=sequence, synthetic=True)


def action(kind: ActionKind, alert_id: str = "a1", sequence: int = 1, *, at: datetime = T0,
           action_id: str | None = None, **fields: Any) -> Action:
    return Action(action_id=action_id or f"{kind.value}-{alert_id}-{sequence}-{at.timestamp()}", action=kind,
                  alert_id=alert_id, alert_sequence=sequence, child_id=CHILD, actor="olivia", role=Role.OPERATOR,
                  at=at, **fields)


@dataclass
class RecordingOutbox:
    """The console's Outbox, recording instead of writing; `fail` makes every write fail."""
    audits: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    fail: bool = False

    def audit(self, what: str, child_id: str | None, *, actor: str, role: str, **details: Any) -> None:
        if self.fail:
            raise AuditNotWritten(what, "broker down (test)")
        self.audits.append({"action": what, "child_id": child_id, "actor": actor, "role": role, **details})

    def action(self, action: Action) -> None:
        self.actions.append(action)


def console(tmp_path: Path, **settings: Any) -> tuple[Console, RecordingOutbox]:
    """A console over fakes with four users, one per role (names are the roles)."""
    config = Settings(data_dir=tmp_path, console=ConsoleSettings(**settings))
    users = UserStore(tmp_path / "users.json")
    for role in Role:
        users.add(role.value, role, PASSWORD)
    outbox = RecordingOutbox()
    built = Console(settings=config, users=users, outbox=outbox,
                    history=lambda child_id: ChildHistory(unavailable="no sink in unit tests"),
                    live=lambda: (True, "test"), ready=lambda: (True, "test"), now=lambda: T0)
    return built, outbox
