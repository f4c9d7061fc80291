"""Child-state snapshots land with `release_state` (ChildStateSnapshot v2, issue 10), on the
real embedded engine: a v2 snapshot carries the US state of release, a v1 snapshot (written
before the field existed) lands with it null; read back through `child_state_current`."""

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
from ucwatch.sinks.rows import CHILD_STATE, topic_targets
from ucwatch.sinks.writer import BatchWriter

CATALOG = default_catalog()
T0 = datetime(2023, 3, 1, tzinfo=UTC)


def snapshot(child_id: str, **extra: Any) -> dict[str, Any]:
    return {"child_id": child_id, "custody_status": "RELEASED_TO_SPONSOR", "contact_status": "REACHABLE",
            "court_status": "NO_NTA", "next_hearing_at": None, "last_contact_at": None, "last_event_at": T0,
            "events_seen": 3, "open_alerts": [], "as_of": T0, "synthetic": True, **extra}


def test_a_v2_snapshot_lands_its_release_state_and_a_v1_one_null(store: tuple[Settings, Any]) -> None:
    settings, client = store
    topic = settings.topics.child_state.name
    v1, v2 = CATALOG.versions("ChildStateSnapshot", "state")
    assert "release_state" not in {f["name"] for f in v1.fields}
    encoder = Encoder(EmbeddedRegistry(CATALOG), topic)
    values = [encoder.encode(v1, snapshot("SYN-CH-000000001")),
              encoder.encode(v2, snapshot("SYN-CH-000000002", release_state="TX")),
              encoder.encode(v2, snapshot("SYN-CH-000000003", release_state=None))]
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    records = RecordRows(topic_targets(settings), letters, Decoder(EmbeddedRegistry(CATALOG), CATALOG,
                                                                   logical_types=False))
    batch = Batch(topic, 0, CHILD_STATE.table, first_offset=0)
    for offset, value in enumerate(values):
        batch.add(offset, records.row(FakeMessage(topic, 0, offset, value, b"k")))
    assert letters.count == 0
    assert BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()}).write(batch) == []
    landed = client.query("SELECT child_id, release_state, custody_status FROM landing.child_state_current "
                          "ORDER BY child_id").result_rows
    assert landed == [("SYN-CH-000000001", None, "RELEASED_TO_SPONSOR"),
                      ("SYN-CH-000000002", "TX", "RELEASED_TO_SPONSOR"),
                      ("SYN-CH-000000003", None, "RELEASED_TO_SPONSOR")]
