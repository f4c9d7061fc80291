"""Audit entries land in the `audit` table (issue 10), on the real embedded engine: entries
as the console, a CLI read and the query service make them (`core.audit.audit_entry`) go
through the sink's own decode, row mapping and batch writer; what has no column is kept
in `details`; a record that is not an audit entry is dead-lettered, not landed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.sinks.fakes import FakeBroker, FakeMessage, FakeProducer
from ucwatch.core.audit import audit_entry
from ucwatch.core.errors import ContractError
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.sinks.audit_rows import audit_row, decode_audit
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.deadletters import DeadLetters
from ucwatch.sinks.records import RecordRows
from ucwatch.sinks.rows import AUDIT, topic_targets
from ucwatch.sinks.writer import BatchWriter

CHILD = "SYN-CH-000000042"


def entries() -> list[dict[str, Any]]:
    console = audit_entry("console_acknowledged", CHILD, environ={"UCWATCH_ACTOR": "olivia"}, role="operator",
                          via="console", alert_id="a" * 32, action_id="b7c1", path="/alerts/x")
    queue = audit_entry("console_view_queue", None, environ={"UCWATCH_ACTOR": "sam"}, role="supervisor",
                        via="console", filters={"severity": "CRITICAL", "page": 1})
    cli = audit_entry("read_child_state", CHILD, environ={"UCWATCH_ACTOR": "ops1"})
    return [console, queue, cli]


def test_entries_land_with_their_columns_and_the_rest_in_details(store: tuple[Settings, Any]) -> None:
    settings, client = store
    topic = settings.topics.audit.name
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    records = RecordRows(topic_targets(settings), letters, Decoder(EmbeddedRegistry(default_catalog()),
                                                                   default_catalog(), logical_types=False))
    made = entries()
    values = [json.dumps(e).encode() for e in made] + [b"not json", b"[1, 2]", json.dumps({"at": "x"}).encode()]
    batch = Batch(topic, 0, AUDIT.table, first_offset=0)
    for offset, value in enumerate(values):
        batch.add(offset, records.row(FakeMessage(topic, 0, offset, value, CHILD.encode())))
    assert letters.count == 3 and len(batch.rows) == 3
    assert BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()}).write(batch) == []

    landed = client.query("SELECT action, actor, role, via, child_id, alert_id, action_id, details, kafka_offset "
                          "FROM landing.audit ORDER BY kafka_offset").result_rows
    assert [row[:7] for row in landed] == [
        ("console_acknowledged", "olivia", "operator", "console", CHILD, "a" * 32, "b7c1"),
        ("console_view_queue", "sam", "supervisor", "console", None, None, None),
        ("read_child_state", "ops1", "", "", CHILD, None, None)]
    assert json.loads(landed[0][7]) == {"path": "/alerts/x"}
    assert json.loads(landed[1][7]) == {"filters": {"page": 1, "severity": "CRITICAL"}}
    assert [row[8] for row in landed] == [0, 1, 2]
    at = client.query("SELECT at FROM landing.audit WHERE kafka_offset = 0").result_rows[0][0]
    assert at.replace(tzinfo=UTC) == datetime.fromisoformat(made[0]["at"])  # milliseconds kept


@pytest.mark.parametrize(("value", "code"), [
    (b"\xff\xfe", "not_json"), (b'"text"', "not_an_object"), (b'{"at": "2024-01-01T00:00:00Z"}', "missing_field"),
    (b'{"at": "yesterday", "action": "x", "actor": "y"}', "bad_timestamp")])
def test_what_is_not_an_audit_entry_is_refused_with_a_reason(value: bytes, code: str) -> None:
    with pytest.raises(ContractError) as refused:
        decode_audit(value)
    assert refused.value.code == code


def test_a_naive_time_is_taken_as_utc_and_ids_left_empty_are_null() -> None:
    name, entry = decode_audit(b'{"at": "2024-01-01T10:00:00", "action": "sql", "actor": "ana", "child_id": ""}')
    row = audit_row(entry, name)
    assert row[0] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert row[7:10] == [None, None, None] and row[10] == "{}"
