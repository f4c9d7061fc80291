"""Who may do what in the console: four roles, and the actions each may take.

- operator: works alerts (acknowledge, note, snooze, record a follow-up);
- supervisor: also assigns and closes by hand;
- analyst: reads only (queue, alerts, children's pages); no action;
- admin: manages users (`ucwatch users`) and reads; works no alert, by design: the
  people who grant rights are not the ones who use them.

The permission table is the one place checked both when a page decides which buttons to
show and when an endpoint decides whether to act (a missing button is a convenience, the
endpoint's 403 is the control).
"""

from __future__ import annotations

from enum import Enum


class Role(Enum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    ADMIN = "admin"


_OPERATOR_ACTIONS = frozenset({"ACKNOWLEDGED", "NOTE_ADDED", "SNOOZED", "FOLLOW_UP_RECORDED"})
ALLOWED_ACTIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _OPERATOR_ACTIONS,
    Role.SUPERVISOR: _OPERATOR_ACTIONS | {"ASSIGNED", "CLOSED_BY_HAND"},
    Role.ANALYST: frozenset(),
    Role.ADMIN: frozenset(),
}


def may(role: Role, action: str) -> bool:
    """Whether `role` may take the action named `action` (an ActionKind value)."""
    return action in ALLOWED_ACTIONS[role]
