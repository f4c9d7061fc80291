"""What the fault suite (test_faults.py) compares: the lifecycle topic with the input
file, detection's outputs with a clean run's, ClickHouse's landing tables with the topics.

Each comparison returns the problems it found as sentences (empty when all agrees), so a
test can report every one of them at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import read_topic
from ucwatch.app.demo import is_event
from ucwatch.core.settings import Settings, TopicSettings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder

CATALOG = default_catalog()
DECODER = Decoder(EmbeddedRegistry(CATALOG), CATALOG)


# --- what reached Kafka -------------------------------------------------------------------

def file_event_ids(path: Path) -> Counter[str]:
    with path.open("rb") as lines:
        return Counter(json.loads(line)["event_id"] for line in lines)


def lifecycle_events(settings: Settings) -> list[tuple[int, int, str]]:
    """(partition, offset, event_id) of every lifecycle event (control records, the clock
    ticks and source watermarks, left out: they are not events)."""
    found = []
    for record in read_topic(settings.kafka.bootstrap, settings.topics.lifecycle.name, timeout_s=60):
        name, value = DECODER.decode_named(record.value)
        if is_event(name):
            found.append((record.partition, record.offset, value["event_id"]))
    return found


def records_of(settings: Settings, topic: TopicSettings) -> list[tuple[int, int, dict[str, Any]]]:
    return [(r.partition, r.offset, DECODER.decode(r.value))
            for r in read_topic(settings.kafka.bootstrap, topic.name, timeout_s=60)]


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def contents_by_key(records: Iterable[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], set[str]]:
    """Every distinct content seen under each key, e.g. (alert_id, sequence)."""
    found: dict[tuple[Any, ...], set[str]] = {}
    for record in records:
        found.setdefault(tuple(record[k] for k in key), set()).add(canonical(record))
    return found


@dataclass
class Outputs:
    """What detection wrote: alert changes and notifications, decoded."""

    alerts: list[dict[str, Any]]
    notifications: list[dict[str, Any]]

    @classmethod
    def read(cls, settings: Settings) -> Outputs:
        return cls([v for _, _, v in records_of(settings, settings.topics.alerts)],
                   [v for _, _, v in records_of(settings, settings.topics.notifications)])


def differences(found: Outputs, reference: Outputs) -> list[str]:
    """How `found` differs from a clean run's outputs, beyond repeats of the same record
    (an at-least-once detector may write a change again after a crash, never another
    content under the same id). Empty when they agree."""
    problems = []
    for name, records, expected, key in (
            ("alert changes", found.alerts, reference.alerts, ("alert_id", "sequence")),
            ("notifications", found.notifications, reference.notifications, ("notification_id",))):
        got, want = contents_by_key(records, *key), contents_by_key(expected, *key)
        conflicting = {k: v for k, v in got.items() if len(v) > 1}
        if conflicting:
            sample = next(iter(conflicting.items()))
            problems.append(f"{name}: {len(conflicting)} id(s) with two different contents, e.g. {sample}")
        if any(len(v) > 1 for v in want.values()):
            problems.append(f"{name}: the clean run itself wrote two contents under one id")
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        if missing:
            problems.append(f"{name}: {len(missing)} of the clean run's missing, e.g. {missing[:3]}")
        if extra:
            problems.append(f"{name}: {len(extra)} not in the clean run, e.g. {extra[:3]}")
        changed = [k for k in set(got) & set(want) if len(got[k]) == 1 and got[k] != want[k]]
        if changed:
            problems.append(f"{name}: {len(changed)} with another content than the clean run's, e.g. "
                            f"{changed[0]}: {got[changed[0]]} vs {want[changed[0]]}")
    return problems


# --- what reached ClickHouse --------------------------------------------------------------

def landed(settings: Settings) -> dict[str, Any]:
    """The landing tables by (partition, offset, id), and what analysts' deduplicating
    views count; read once the sink has stopped (it holds an embedded store)."""
    from ucwatch.sinks.clickhouse import connect

    client = connect(settings, "analyst")
    try:
        db = settings.clickhouse.database
        found: dict[str, Any] = {}
        for table, key in (("events", "event_id"), ("alerts", "alert_id"), ("notifications", "notification_id")):
            found[table] = sorted(client.query(f"SELECT kafka_partition, kafka_offset, {key} FROM {db}.{table}")
                                  .result_rows)
        found["child_state"] = dict(client.query(f"SELECT child_id, events_seen FROM {db}.child_state FINAL")
                                    .result_rows)
        for view in ("events_distinct", "alert_changes", "notifications_distinct"):
            found[view] = client.query(f"SELECT count() FROM {db}.{view}").result_rows[0][0]
        return found
    finally:
        client.close()


def on_kafka(settings: Settings) -> dict[str, Any]:
    """What the sink should have landed, read from the topics, in the shape of `landed`."""
    events = lifecycle_events(settings)
    alerts = records_of(settings, settings.topics.alerts)
    notifications = records_of(settings, settings.topics.notifications)
    state: dict[str, int] = {}
    for _, _, value in records_of(settings, settings.topics.child_state):
        state[value["child_id"]] = value["events_seen"]
    return {"events": sorted(events),
            "alerts": sorted((p, o, v["alert_id"]) for p, o, v in alerts),
            "notifications": sorted((p, o, v["notification_id"]) for p, o, v in notifications),
            "child_state": state,
            "events_distinct": len({e for _, _, e in events}),
            "alert_changes": len({(v["alert_id"], v["sequence"]) for _, _, v in alerts}),
            "notifications_distinct": len({v["notification_id"] for _, _, v in notifications})}


def landing_differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Where ClickHouse differs from Kafka: a row missing or twice, a wrong count in a view."""
    problems = []
    for table in ("events", "alerts", "notifications"):
        got, want = Counter(found[table]), Counter(expected[table])
        twice = [k for k, n in got.items() if n > 1]
        missing, extra = list((want - got).elements()), [k for k in got if k not in want]
        if twice or missing or extra:
            problems.append(f"{table}: {len(got)} distinct rows for {len(want)} records; {len(missing)} missing "
                            f"(e.g. {missing[:3]}), {len(twice)} landed twice (e.g. {twice[:3]}), "
                            f"{len(extra)} not on Kafka")
    if found["child_state"] != expected["child_state"]:
        wrong = [c for c in expected["child_state"] if found["child_state"].get(c) != expected["child_state"][c]]
        problems.append(f"child_state: {len(wrong)} children differ from the topic's last snapshot, e.g. {wrong[:3]}")
    for view in ("events_distinct", "alert_changes", "notifications_distinct"):
        if found[view] != expected[view]:
            problems.append(f"view {view} counts {found[view]}, the topic holds {expected[view]} distinct")
    return problems
