"""Source watermarks on the real broker: declarations written by the SDK to every partition
hold alerts PENDING and open them at their deadlines, a follow-up that comes in time
withdraws a pending one, a late one behind the watermark still retracts, an outage holds,
and a feed that stops moving raises one FEED_STALLED, resolved when it moves again."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import settings_env
from tests.helpers import sample_event
from tests.integration.detect_support import (
    alert_records,
    notification_records,
    start_worker,
    stop_worker,
    wait_until_processed,
)
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.streams.policy_parser import DEFAULT_POLICY

pytestmark = pytest.mark.kafka
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
NOW = T0 + timedelta(days=100)     # the producers' clock: when the sources declare
FEEDS = """
[[feeds.source]]
name = "EOIR"
stall_after = "1h"

[[feeds.outage]]
source = "ICE_ERO"
from = 2021-01-01T00:00:00Z
until = 2100-01-01T00:00:00Z
reason = "ICE_ERO system migration"
"""


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def declare(settings: Settings, source: str, up_to: datetime, when: datetime) -> None:
    with EventProducer(settings, clock=when.timestamp) as producer:
        assert producer.declare_watermark(source, ms(up_to)) == settings.topics.lifecycle.partitions


def publish(settings: Settings, *events: dict) -> None:
    with EventProducer(settings, clock=(NOW + timedelta(days=1)).timestamp) as producer:
        for event in events:
            producer.publish(event)


def test_watermarks_hold_open_withdraw_retract_and_a_stalled_feed_alerts_once(settings: Settings,
                                                                             tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text() + FEEDS)
    settings = dataclasses.replace(settings, streams=dataclasses.replace(settings.streams, policy=str(policy)))
    ensure_topics(wait_for_kafka(settings), settings)
    release = {"occurred_at": at(T0), "recorded_at": at(T0), "address_quality": "VALID", "source": "ORR"}
    publish(settings, *(sample_event("ReleasedToSponsor", child=c, **release) for c in (1, 2, 3)),
            sample_event("ChildEncountered", child=4, occurred_at=at(T0), recorded_at=at(T0)))
    declare(settings, "ORR", T0 + timedelta(hours=1), NOW)           # due, but ORR is behind: PENDING
    declare(settings, "EOIR", T0, NOW)
    publish(settings, sample_event("DischargeNotificationSent", child=2, source="ORR",
                                   occurred_at=at(T0 + timedelta(hours=2)), recorded_at=at(NOW)))
    declare(settings, "ORR", T0 + timedelta(days=2), NOW + timedelta(minutes=1))   # opens 1 and 3
    publish(settings, sample_event("DischargeNotificationSent", child=3, source="ORR",
                                   occurred_at=at(T0 + timedelta(hours=1)),
                                   recorded_at=at(NOW + timedelta(minutes=2))))
    tick = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "tick", "--at", at(NOW + timedelta(hours=2))],
                          env=settings_env(settings), capture_output=True, text=True, timeout=60, check=False)
    assert tick.returncode == 0, tick.stderr
    declare(settings, "EOIR", T0 + timedelta(days=1), NOW + timedelta(hours=3))

    worker = start_worker(settings, tmp_path)
    try:
        wait_until_processed(settings, worker)
    finally:
        stop_worker(worker)

    alerts = alert_records(settings)
    discharge = {c: [(a["change"], a["status"]) for a in alerts
                     if a["rule"] == "DISCHARGE_NOTICE_OVERDUE" and a["child_id"].endswith(str(c))] for c in (1, 2, 3)}
    assert discharge == {1: [("PENDING", "PENDING"), ("OPENED", "OPEN")],
                         2: [("PENDING", "PENDING"), ("WITHDRAWN", "WITHDRAWN")],
                         3: [("PENDING", "PENDING"), ("OPENED", "OPEN"), ("RETRACTED", "RETRACTED")]}
    opened = next(a for a in alerts if a["rule"] == "DISCHARGE_NOTICE_OVERDUE" and a["change"] == "OPENED")
    assert opened["fired_at"] == opened["deadline"] == T0 + timedelta(days=1)   # when it became overdue
    transfer = [(a["change"], a["reason"]) for a in alerts if a["rule"] == "TRANSFER_OVERDUE"]
    assert [c for c, _ in transfer] == ["PENDING"] and "ICE_ERO system migration" in transfer[0][1]
    stalled = [(a["child_id"], a["change"], a["status"]) for a in alerts if a["rule"] == "FEED_STALLED"]
    assert stalled == [("FEED:EOIR", "OPENED", "OPEN"), ("FEED:EOIR", "RESOLVED", "RESOLVED")]
    notices = notification_records(settings)
    assert not [n for n in notices if n["kind"] == "DISCHARGE_NOTICE_OVERDUE"]   # the rule does not notify

    feeds = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "feeds", "--format", "json"],
                           env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False)
    assert feeds.returncode == 0, feeds.stderr
    health = {row["source"]: row for row in json.loads(feeds.stdout)}
    assert health["ORR"]["watermark"] == ms(T0 + timedelta(days=2)) and health["ORR"]["declared"]
    assert health["ORR"]["behind_watermark"] == 1 and health["ORR"]["retractions_caused"] == 1   # child 3
    assert health["EOIR"]["watermark"] == ms(T0 + timedelta(days=1)) and not health["EOIR"]["stalled"]
