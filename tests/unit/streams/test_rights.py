"""What the worker reads, writes and checks at start (streams/rights.py), without a broker;
tests/integration/test_secure_kafka.py runs the checks against the secured one."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from ucwatch.core.errors import SettingsError
from ucwatch.core.provenance import ingest_topic
from ucwatch.core.settings import Settings, StreamsSettings
from ucwatch.streams.rights import require_copartitioned, source_topics, worker_rights


def reading_ingest(settings: Settings) -> Settings:
    return dataclasses.replace(settings, streams=StreamsSettings(read_ingest_topics=True))


def test_the_plain_worker_reads_the_lifecycle_topic_only() -> None:
    settings = Settings()
    assert [t.name for t in source_topics(settings)] == [settings.topics.lifecycle.name]


def test_on_a_secured_broker_it_reads_every_agencys_topic_too() -> None:
    settings = reading_ingest(Settings())
    names = [t.name for t in source_topics(settings)]
    assert names == [settings.topics.lifecycle.name, *(ingest_topic(a) for a in ("cbp", "ice", "orr", "prs", "eoir"))]
    rights = {topic: [op.name for op in ops] for topic, ops in worker_rights(settings).items()}
    assert rights[ingest_topic("cbp")] == ["READ"] and rights[settings.topics.alerts.name] == ["WRITE"]
    assert rights[settings.topics.deadletter.name] == ["WRITE"]
    assert settings.topics.audit.name not in rights  # it needs no more than it uses


class _Admin:
    def __init__(self, counts: dict[str, int]) -> None:
        self._counts = counts

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(topics={name: SimpleNamespace(partitions=dict.fromkeys(range(count)))
                                       for name, count in self._counts.items()})


def test_a_topic_it_reads_with_another_partition_count_is_refused_by_name() -> None:
    settings = reading_ingest(Settings())
    counts = {t.name: 6 for t in source_topics(settings)}
    require_copartitioned(_Admin(counts), settings)  # type: ignore[arg-type]
    counts[ingest_topic("orr")] = 12
    with pytest.raises(SettingsError, match=r"must have 6 partitions each .*ucwatch\.ingest\.orr has 12"):
        require_copartitioned(_Admin(counts), settings)  # type: ignore[arg-type]
