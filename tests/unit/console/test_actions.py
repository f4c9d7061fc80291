"""The action contract: a form becomes a checked action, which survives Avro both ways."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.console.support import CHILD, T0
from ucwatch.console.actions import (
    NOTE_MAX_CHARS,
    Action,
    ActionKind,
    ActionRefused,
    CloseReason,
    FollowUpOutcome,
    new_action,
)
from ucwatch.console.roles import Role, may
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder


def make(kind: str, **form: str) -> Action:
    return new_action(kind, alert_id="a1", alert_sequence=2, child_id=CHILD, actor="olivia", role=Role.SUPERVISOR,
                      form=form, now=T0, synthetic=True)


def roundtrip(action: Action) -> Action:
    catalog = default_catalog()
    registry = EmbeddedRegistry(catalog)
    schema = catalog.latest("AlertAction", "actions")
    data = Encoder(registry, "ucwatch.actions").encode(schema, action.to_record())
    return Action.from_record(Decoder(registry, catalog).decode(data))


@pytest.mark.parametrize("kind, form", [
    ("ACKNOWLEDGED", {}),
    ("ASSIGNED", {"assignee": "team:east"}),
    ("NOTE_ADDED", {"note": "Called SP-ABC123, no answer; will retry."}),
    ("SNOOZED", {"until": "2024-05-08"}),
    ("FOLLOW_UP_RECORDED", {"outcome": "LOCATED_HOME_VISIT_DONE", "note": "home visit done"}),
    ("CLOSED_BY_HAND", {"reason": "DUPLICATE"}),
])
def test_every_action_survives_avro_unchanged(kind: str, form: dict[str, str]) -> None:
    action = make(kind, **form)
    assert roundtrip(action) == action
    assert action.to_record()["child_id"] == CHILD and action.to_record()["alert_sequence"] == 2


def test_each_kind_keeps_its_own_fields_only() -> None:
    assert make("ASSIGNED", assignee="Maria", note="ignored").note is None
    assert make("ASSIGNED", assignee="Maria").assignee == "maria"
    snoozed = make("SNOOZED", until="2024-05-08")
    assert snoozed.snoozed_until == T0.replace(day=8, hour=0) and snoozed.note is None
    followed = make("FOLLOW_UP_RECORDED", outcome="NOT_LOCATED")
    assert followed.outcome is FollowUpOutcome.NOT_LOCATED and followed.note is None
    assert make("CLOSED_BY_HAND", reason="FALSE_ALARM").close_reason is CloseReason.FALSE_ALARM
    assert make("ACKNOWLEDGED", note="x").note is None


def test_action_ids_are_unique() -> None:
    assert make("ACKNOWLEDGED").action_id != make("ACKNOWLEDGED").action_id


@pytest.mark.parametrize("kind, form, field", [
    ("ASSIGNED", {"assignee": ""}, "assignee"),
    ("ASSIGNED", {"assignee": "Maria Lopez"}, "assignee"),
    ("NOTE_ADDED", {"note": "   "}, "note"),
    ("NOTE_ADDED", {"note": "x" * (NOTE_MAX_CHARS + 1)}, "note"),
    ("SNOOZED", {"until": "next week"}, "until"),
    ("SNOOZED", {"until": (T0 - timedelta(days=1)).date().isoformat()}, "until"),
    ("FOLLOW_UP_RECORDED", {"outcome": "FOUND"}, "outcome"),
    ("CLOSED_BY_HAND", {}, "reason"),
    ("DELETED", {}, "action"),
])
def test_bad_input_is_refused_with_the_field(kind: str, form: dict[str, str], field: str) -> None:
    with pytest.raises(ActionRefused) as refused:
        make(kind, **form)
    assert refused.value.field == field


def test_a_note_loses_control_characters_and_keeps_its_text() -> None:
    assert make("NOTE_ADDED", note="line one\nline\x00two\x1b[31m").note == "line one\nlinetwo[31m"
    assert make("NOTE_ADDED", note="x" * NOTE_MAX_CHARS).note == "x" * NOTE_MAX_CHARS


def test_only_pseudonymous_child_tokens_are_accepted() -> None:
    for child_id in ("A123456789", "SYN-CH-1\n", "CH-abc", ""):
        with pytest.raises(ActionRefused):
            new_action("ACKNOWLEDGED", alert_id="a1", alert_sequence=1, child_id=child_id, actor="olivia",
                       role=Role.OPERATOR, form={}, now=T0)


def test_roles() -> None:
    assert all(may(Role.SUPERVISOR, kind.value) for kind in ActionKind)
    assert {kind for kind in ActionKind if may(Role.OPERATOR, kind.value)} == {
        ActionKind.ACKNOWLEDGED, ActionKind.NOTE_ADDED, ActionKind.SNOOZED, ActionKind.FOLLOW_UP_RECORDED}
    assert not any(may(role, kind.value) for role in (Role.ANALYST, Role.ADMIN) for kind in ActionKind)
