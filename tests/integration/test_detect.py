"""Detection on the real broker: a worker process consumes what `ucwatch produce` and the
SDK publish, advanced by `ucwatch tick`, and says what domain.md expects it to say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.conftest import settings_env
from tests.helpers import read_topic, sample_event
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
from ucwatch.schemas.wire import frame_header

pytestmark = pytest.mark.kafka
T0 = "2021-03-01T12:00:00Z"


def _at(hours: float) -> str:
    from datetime import datetime, timedelta
    moment = datetime.fromisoformat(T0) + timedelta(hours=hours)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tick(settings: Settings, at: str) -> None:
    result = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "tick", "--at", at], env=settings_env(settings),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def _assert_corrected(alerts: list[dict], notifications: list[dict]) -> None:
    """Child 4's WHEREABOUTS_UNKNOWN alert was told to HHS and ICE, then retracted: each is
    sent one CORRECTION naming its notice, dated when the child was in fact located."""
    whereabouts = [a for a in alerts if a["rule"] == "WHEREABOUTS_UNKNOWN"]
    assert [(a["child_id"][-1], a["change"]) for a in whereabouts] == [("4", "OPENED"), ("4", "RETRACTED")]
    told = {n["recipient"]: n for n in notifications if n["kind"] == "WHEREABOUTS_UNKNOWN"}
    corrections = [n for n in notifications if n["kind"] == "CORRECTION"]
    assert sorted(told) == ["HHS", "ICE"]
    assert sorted((n["recipient"], n["corrects_notification_id"], n["fact_id"]) for n in corrections) == [
        (r, told[r]["notification_id"], whereabouts[0]["alert_id"]) for r in ("HHS", "ICE")]
    assert all(n["occurred_at"].isoformat().startswith("2021-02-14T12:00:00") for n in corrections)
    assert all(n["corrects_notification_id"] is None for n in notifications if n["kind"] != "CORRECTION")


def test_alerts_notifications_and_dead_letters(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    late, missing, court, located = 1, 2, 3, 4
    events = [
        # child 1: referral notified late (50 h > 48 h), transferred in time
        sample_event("ChildEncountered", child=late, occurred_at=T0, recorded_at=T0),
        sample_event("CustodyTransferred", child=late, occurred_at=_at(30), recorded_at=_at(30)),
        sample_event("HhsReferralNotified", child=late, occurred_at=_at(50), recorded_at=_at(50)),
        # child 2: never transferred, referral on time
        sample_event("ChildEncountered", child=missing, occurred_at=T0, recorded_at=T0),
        sample_event("HhsReferralNotified", child=missing, occurred_at=_at(2), recorded_at=_at(2)),
        # child 3: first seen in court, fails to appear: HHS is told at once, and only once
        sample_event("FailureToAppear", child=court, occurred_at=_at(10), recorded_at=_at(10)),
        # child 4: failed to appear 20 days before T0; the tick finds its whereabouts unknown
        sample_event("FailureToAppear", child=located, occurred_at=_at(-24 * 20), recorded_at=_at(-24 * 20)),
    ]
    events.append(dict(events[-1]))  # a duplicate delivery of the same event
    with EventProducer(settings) as producer:
        for event in events:
            producer.publish(event)
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    raw.produce(settings.topics.lifecycle.name, b"\x07garbage", b"SYN-CH-000000009")
    raw.produce(settings.topics.lifecycle.name, frame_header(12345) + b"\x00", b"SYN-CH-000000009")
    raw.flush(10)
    del raw
    _tick(settings, _at(24 * 10))
    # ... and only then learns the child was located 5 days after the hearing: a false alarm
    contact = sample_event("LocationVerified", child=located, occurred_at=_at(-24 * 15), recorded_at=_at(24 * 10))
    with EventProducer(settings) as producer:
        producer.publish(contact)

    worker = start_worker(settings, tmp_path)
    try:
        wait_until_processed(settings, worker)
    finally:
        stop_worker(worker)

    alerts = alert_records(settings)
    changes = {(a["child_id"][-1], a["rule"], a["change"]) for a in alerts}
    assert ("1", "HHS_REFERRAL_OVERDUE", "OPENED") in changes
    assert ("1", "HHS_REFERRAL_OVERDUE", "RESOLVED") in changes
    assert not any(c[0] == "1" and c[1] == "TRANSFER_OVERDUE" for c in changes)
    assert ("2", "TRANSFER_OVERDUE", "OPENED") in changes
    assert not any(c[0] == "2" and c[1] == "HHS_REFERRAL_OVERDUE" for c in changes)
    opened = next(a for a in alerts if a["child_id"].endswith("2") and a["rule"] == "TRANSFER_OVERDUE")
    assert opened["deadline"].isoformat().startswith("2021-03-04T12:00:00")
    assert opened["severity"] == "HIGH" and opened["status"] == "OPEN"

    notifications = notification_records(settings)
    fta = [n for n in notifications if n["kind"] == "FAILURE_TO_APPEAR"]
    assert sorted(n["child_id"][-1] for n in fta) == ["3", "4"] and {n["recipient"] for n in fta} == {"HHS"}
    _assert_corrected(alerts, notifications)

    import json
    letters = [json.loads(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.deadletter.name)]
    assert sorted(letter["reason_code"] for letter in letters) == ["not_framed", "unknown_schema_id"]
    assert all(letter["origin"].startswith(settings.topics.lifecycle.name + ":") for letter in letters)

    view = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "child", "SYN-CH-000000002"],
                          env=settings_env(settings) | {"UCWATCH_ACTOR": "analyst-7"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert view.returncode == 0, view.stderr
    shown = json.loads(view.stdout)
    assert [a["rule"] for a in shown["open_alerts"]] == ["TRANSFER_OVERDUE"]
    assert shown["state"]["custody_status"] == "IN_DHS_CUSTODY"
    audit = [json.loads(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.audit.name)]
    assert [(a["actor"], a["action"], a["child_id"]) for a in audit] == \
           [("analyst-7", "read_child_state", "SYN-CH-000000002")]
