"""Declared source watermarks on the lifecycle topic land in `source_watermarks` (issue 11),
on the real embedded engine: in the batch of the events around them, never as dead
letters, once each even when a kill falls between the two tables' inserts; and
`feed_health` reads them with the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import sample_event
from tests.unit.sinks.fakes import FakeBroker, FakeMessage, FakeProducer
from ucwatch.core.settings import Settings
from ucwatch.producers.watermarks import watermark_record
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.sinks.batch import Batch
from ucwatch.sinks.deadletters import DeadLetters
from ucwatch.sinks.records import RecordRows
from ucwatch.sinks.rows import EVENTS, SOURCE_WATERMARKS, WATERMARK_FIELDS, topic_targets
from ucwatch.sinks.writer import BatchWriter

CATALOG = default_catalog()
T0 = datetime(2023, 3, 1, tzinfo=UTC)
MS = 1000


class Killed(Exception):
    """The process died (here: between the events' insert and the watermarks')."""


def ms(at: datetime) -> int:
    return int(at.timestamp() * MS)


def lifecycle_values(topic: str) -> list[bytes]:
    """Offsets 0-2: events (ICE, one a day, 5 hours late); 3: EOIR declares complete up to
    T0 + 1 day; 4: an event; 5: ICE declares up to T0 + 2 days."""
    encoder = Encoder(EmbeddedRegistry(CATALOG), topic)
    mark = CATALOG.latest("SourceWatermark", "control")

    def event(day: int) -> bytes:
        record = sample_event("NtaServed", child=day + 1, occurred_at=T0 + timedelta(days=day),
                              recorded_at=T0 + timedelta(days=day, hours=5))
        return encoder.encode(CATALOG.latest("NtaServed"), record)

    def declared(source: str, up_to: datetime) -> bytes:
        return encoder.encode(mark, watermark_record(source, ms(up_to), ms(up_to + timedelta(hours=1)), 0))

    return [event(0), event(1), event(2), declared("EOIR", T0 + timedelta(days=1)), event(3),
            declared("ICE", T0 + timedelta(days=2))]


def formed(settings: Settings, letters: DeadLetters, **replay: Any) -> Batch:
    topic = settings.topics.lifecycle.name
    records = RecordRows(topic_targets(settings), letters,
                         Decoder(EmbeddedRegistry(CATALOG), CATALOG, logical_types=False))
    batch = Batch(topic, 0, EVENTS.table, first_offset=0, **replay)
    for offset, value in enumerate(lifecycle_values(topic)):
        batch.add(offset, records.row(FakeMessage(topic, 0, offset, value, b"k")))
    return batch


def landed(client: Any, table: str) -> list[tuple[int, int]]:
    return sorted(client.query(f"SELECT kafka_partition, kafka_offset FROM landing.{table}").result_rows)


def test_every_field_of_the_declaration_has_a_column() -> None:
    versions = CATALOG.versions("SourceWatermark", "control")
    assert {f["name"] for v in versions for f in v.fields} == set(WATERMARK_FIELDS)


def test_a_declared_watermark_lands_in_its_table_and_is_not_a_dead_letter(store: tuple[Settings, Any]) -> None:
    settings, client = store
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    batch = formed(settings, letters)
    assert letters.count == 0
    assert (len(batch.rows), batch.row_count) == (4, 6)
    writer = BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()})
    assert writer.write(batch) == []
    assert landed(client, "events") == [(0, 0), (0, 1), (0, 2), (0, 4)]
    assert landed(client, "source_watermarks") == [(0, 3), (0, 5)]
    assert client.query("SELECT source, complete_up_to, declared_at, partition, issued_by "
                        "FROM landing.source_watermarks ORDER BY kafka_offset").result_rows == [
        ("EOIR", (T0 + timedelta(days=1)).replace(tzinfo=None), (T0 + timedelta(days=1, hours=1)).replace(tzinfo=None),
         0, "sdk"),
        ("ICE", (T0 + timedelta(days=2)).replace(tzinfo=None), (T0 + timedelta(days=2, hours=1)).replace(tzinfo=None),
         0, "sdk")]
    # One ledger entry for the range, whichever tables it wrote.
    assert client.query("SELECT first_offset, last_offset, target FROM landing.sink_ledger").result_rows == [
        (0, 5, "events")]


def test_killed_between_the_events_and_the_watermarks_the_replay_lands_each_row_once(
        store: tuple[Settings, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings, client = store
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    writer = BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()})
    insert = writer._insert

    def dies_before_the_watermarks(table: str, rows: list[Any], token: str) -> None:
        if table == SOURCE_WATERMARKS.table:
            raise Killed
        insert(table, rows, token)

    monkeypatch.setattr(writer, "_insert", dies_before_the_watermarks)
    with pytest.raises(Killed):
        writer.write(formed(settings, letters))
    assert (len(landed(client, "events")), len(landed(client, "source_watermarks"))) == (4, 0)

    monkeypatch.setattr(writer, "_insert", insert)
    for _ in range(2):  # the restart forms the ledgered range again; then once more
        assert writer.write(formed(settings, letters, replay_until=5)) == []
        assert landed(client, "events") == [(0, 0), (0, 1), (0, 2), (0, 4)]
        assert landed(client, "source_watermarks") == [(0, 3), (0, 5)]


def test_feed_health_joins_the_events_of_a_source_with_its_lowest_declared_watermark(
        store: tuple[Settings, Any]) -> None:
    """Per partition the furthest declaration counts, over the topic the lowest; a source
    that only declared and one that only sent events have a row each."""
    settings, client = store
    letters = DeadLetters(FakeProducer(FakeBroker({})), settings.topics.deadletter.name)
    writer = BatchWriter(client, "landing", {t.table: t for t in topic_targets(settings).values()})
    writer.write(formed(settings, letters))
    client.insert("landing.source_watermarks",
                  [["ICE", T0 + timedelta(days=1), T0 + timedelta(days=1), 1, "sdk", 1, 0],   # partition 1 behind
                   ["ICE", T0, T0, 0, "sdk", 0, 9]],                                          # never goes back
                  column_names=["source", "complete_up_to", "declared_at", "partition", "issued_by",
                                "kafka_partition", "kafka_offset"])
    rows = client.query("SELECT source, events_28d, events_per_day, lateness_p50_hours, lateness_p90_hours, "
                        "watermark, watermark_partitions, lag_hours, clock FROM landing.feed_health").result_rows
    clock = (T0 + timedelta(days=3, hours=5)).replace(tzinfo=None)  # the last event's recorded_at
    assert rows == [
        ("EOIR", 0, None, None, None, (T0 + timedelta(days=1)).replace(tzinfo=None), 1, 53.0, clock),
        # 4 events over the 3 days from the first's arrival to the clock
        ("ICE", 4, round(4 / 3, 2), 5.0, 5.0, (T0 + timedelta(days=1)).replace(tzinfo=None), 2, 53.0, clock)]
