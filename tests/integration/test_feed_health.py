"""Feed health in ClickHouse (issue 11, item 3), on the real broker and the embedded engine:
events and declared watermarks published with the SDK, landed by `ucwatch sink`, read by
an analyst with `ucwatch sql` from `feed_health`.

The history (T0 = 2023-03-01):
- ICE: 11 NtaServed, one a day from T0, the i-th recorded i hours after it occurred; the
  one 5 hours late is delivered twice (same event_id). Never declares.
- EOIR: 3 HearingScheduled on days 5-7, each recorded 48 hours late. Declares complete up
  to day 6 (at day 8), then up to day 7 (at day 9).
- PRS: no event; declares complete up to day 10 at day 11, which is the clock (the latest
  recorded_at or declared_at).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_env
from tests.helpers import read_topic, sample_event
from tests.integration.test_sink import deadletters, start_sink
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.sinks.clickhouse import connect

pytestmark = pytest.mark.kafka

T0 = datetime(2023, 3, 1, tzinfo=UTC)
CATALOG = default_catalog()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def publish_feeds(settings: Settings) -> None:
    ice = [sample_event("NtaServed", child=i + 1, occurred_at=day(i), recorded_at=day(i) + timedelta(hours=i))
           for i in range(11)]
    eoir = [sample_event("HearingScheduled", child=20 + j, occurred_at=day(5 + j),
                         recorded_at=day(5 + j) + timedelta(hours=48)) for j in range(3)]
    with EventProducer(settings, clock=day(12).timestamp) as producer:
        for event in [*ice, ice[5], *eoir]:
            producer.publish(event)
    for source, up_to, at in (("EOIR", day(6), day(8)), ("EOIR", day(7), day(9)), ("PRS", day(10), day(11))):
        with EventProducer(settings, clock=at.timestamp) as producer:
            assert producer.declare_watermark(source, ms(up_to)) == settings.topics.lifecycle.partitions


def analyst_query(settings: Settings, query: str) -> list[dict[str, Any]]:
    """`ucwatch sql QUERY --format json`: the analysts' path (allow-list, read-only, audited)."""
    done = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "sql", query, "--format", "json"],
                          env=settings_env(settings), capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_feed_health_per_source_from_landed_events_and_declared_watermarks(settings: Settings,
                                                                           tmp_path: Path) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    publish_feeds(settings)
    partitions = settings.topics.lifecycle.partitions
    log = tmp_path / "sink.log"
    for _ in range(2):  # the second run finds everything committed and lands nothing
        assert start_sink(settings, log, 50, "--until-caught-up").wait(240) == 0, log.read_text()[-3000:]
    assert "landed 0 rows" in log.read_text().splitlines()[-1], log.read_text()[-2000:]

    # Every declaration landed once, by (partition, offset), none dead-lettered.
    decoder = Decoder(EmbeddedRegistry(CATALOG), CATALOG)
    on_topic = sorted((r.partition, r.offset) for r in read_topic(settings, settings.topics.lifecycle.name)
                      if decoder.decode_named(r.value)[0].endswith("SourceWatermark"))
    assert len(on_topic) == 3 * partitions
    assert deadletters(settings) == []
    client = connect(settings, "analyst")
    try:
        landed = sorted(client.query(f"SELECT kafka_partition, kafka_offset FROM "
                                     f"{settings.clickhouse.database}.source_watermarks").result_rows)
    finally:
        client.close()
    assert landed == on_topic

    rows = {row["source"]: row for row in analyst_query(settings, "SELECT * FROM feed_health")}
    assert list(rows) == ["EOIR", "ICE", "PRS"]
    clock = day(11)
    assert {at(row["clock"]) for row in rows.values()} == {clock}

    ice = rows["ICE"]
    assert (at(ice["last_occurred_at"]), at(ice["last_recorded_at"])) == (day(10), day(10) + timedelta(hours=10))
    assert ice["events_28d"] == 11                      # the repeat counted once
    assert ice["events_per_day"] == 1.0                 # 11 events over the 11 days since the first
    # ClickHouse's exact quantile: the value at floor(level * n) of the 12 sorted lateness
    # values 0,1,2,3,4,5,5,6,...,10 hours (the repeat is a second delivery of the 5-hour one).
    assert (ice["lateness_p50_hours"], ice["lateness_p90_hours"]) == (5, 9)
    assert (ice["watermark"], ice["lag_hours"], ice["watermark_partitions"]) == (None, None, None)

    eoir = rows["EOIR"]
    assert (at(eoir["last_occurred_at"]), at(eoir["last_recorded_at"])) == (day(7), day(9))
    assert (eoir["events_28d"], eoir["events_per_day"]) == (3, 0.75)  # 3 events over the 4 days since the first
    assert (eoir["lateness_p50_hours"], eoir["lateness_p90_hours"]) == (48, 48)
    assert at(eoir["watermark"]) == day(7) and at(eoir["watermark_declared_at"]) == day(9)
    assert (eoir["lag_hours"], eoir["watermark_partitions"]) == (96, partitions)

    prs = rows["PRS"]
    assert (prs["last_occurred_at"], prs["events_28d"], prs["events_per_day"], prs["lateness_p50_hours"]) == (
        None, 0, None, None)
    assert (at(prs["watermark"]), prs["lag_hours"]) == (day(10), 24)
