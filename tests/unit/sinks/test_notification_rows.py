"""Notifications land with `corrects_notification_id` (issue 14), on the real embedded engine:
a v2 CORRECTION record names the notice it withdraws, a v1 record (written before the
field existed) lands with it null; both through the sink's own decode, row mapping and
batch writer, and both read back through `notifications_distinct`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.unit.sinks.fakes import FakeBroker, FakeMessage, FakeProducer
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.deadletters import DeadLetters
from ucwatch.sinks.records import RecordRows
from ucwatch.sinks.rows import NOTIFICATIONS, topic_targets
from ucwatch.sinks.writer import BatchWriter

CATALOG = default_catalog()
T0 = datetime(2023, 3, 1, tzinfo=UTC)


def notice(notification_id: str, kind: str, hour: int, **extra: Any) -> dict[str, Any]:
    return {"notification_id": notification_id, "child_id": "SYN-CH-000000001", "recipient": "HHS",
            "kind": kind, "fact_id": "A-1", "occurred_at": T0.replace(hour=hour), "reason": f"{kind} reason",
            **extra, "synthetic": True}


def test_a_correction_and_a_v1_notice_both_land(store: tuple[Settings, Any]) -> None:
    settings, client = store
    topic = settings.topics.notifications.name
    v1, v2 = (version for version in CATALOG.versions("NotificationSent", "notifications"))
    assert "corrects_notification_id" not in {f["name"] for f in v1.fields}
    encoder = Encoder(EmbeddedRegistry(CATALOG), topic)
    values = [
        encoder.encode(v1, notice("N-1", "WHEREABOUTS_UNKNOWN", 1)),
        encoder.encode(v2, notice("N-2", "WHEREABOUTS_UNKNOWN", 2, corrects_notification_id=None)),
        encoder.encode(v2, notice("N-1-C", "CORRECTION", 3, corrects_notification_id="N-1")),
    ]
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    records = RecordRows(topic_targets(settings), letters,
                         Decoder(EmbeddedRegistry(CATALOG), CATALOG, logical_types=False))
    batch = Batch(topic, 0, NOTIFICATIONS.table, first_offset=0)
    for offset, value in enumerate(values):
        batch.add(offset, records.row(FakeMessage(topic, 0, offset, value, b"SYN-CH-000000001")))
    assert letters.count == 0 and len(batch.rows) == 3
    writer = BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()})
    assert writer.write(batch) == []

    landed = client.query("SELECT notification_id, kind, corrects_notification_id, reason "
                          "FROM landing.notifications_distinct ORDER BY notification_id").result_rows
    assert landed == [("N-1", "WHEREABOUTS_UNKNOWN", None, "WHEREABOUTS_UNKNOWN reason"),
                      ("N-1-C", "CORRECTION", "N-1", "CORRECTION reason"),
                      ("N-2", "WHEREABOUTS_UNKNOWN", None, "WHEREABOUTS_UNKNOWN reason")]
    assert client.query("SELECT count() FROM landing.notifications").result_rows[0][0] == 3


def test_one_schema_name_in_two_field_orders_maps_each_by_name() -> None:
    """A v1 record resolved to v2 has the new field last; a v2 record has it before
    `synthetic`. The positional path must not reuse the first order for the second."""
    base = notice("N-1", "CORRECTION", 1)
    resolved_v1 = {**base, "corrects_notification_id": None}
    written_v2 = {k: v for k, v in base.items() if k != "synthetic"} | {"corrects_notification_id": "N-0",
                                                                        "synthetic": True}
    assert list(resolved_v1)[-1] != list(written_v2)[-1]
    for record in (resolved_v1, written_v2, resolved_v1):
        assert NOTIFICATIONS.to_row(record, "NotificationSent") == NOTIFICATIONS.to_row(record)
