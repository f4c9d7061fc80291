"""The producer SDK on the real broker: keyed by child, ordered, errors surfaced."""

from __future__ import annotations

import dataclasses

import pytest

from tests.helpers import read_topic, sample_event
from ucwatch.core.errors import ContractError, DeliveryError, SettingsError
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer, ProducerOptions
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder

pytestmark = pytest.mark.kafka


def test_events_are_keyed_by_child_and_kept_in_order(settings: Settings) -> None:
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    sent = [sample_event("WellbeingCallAttempted", child=n % 5, attempt=n + 1) for n in range(50)]
    with EventProducer(settings) as producer:
        for event in sent:
            producer.publish(event)
    records = read_topic(settings.kafka.bootstrap, settings.topics.lifecycle.name)
    decoder = Decoder(EmbeddedRegistry(default_catalog()))
    partitions_of_child: dict[str, set[int]] = {}
    order_of_child: dict[str, list[int]] = {}
    for record in records:
        event = decoder.decode(record.value)
        assert record.key.decode() == event["child_id"]
        partitions_of_child.setdefault(event["child_id"], set()).add(record.partition)
        order_of_child.setdefault(event["child_id"], []).append(event["attempt"])
    assert all(len(p) == 1 for p in partitions_of_child.values())
    for attempts in order_of_child.values():
        assert attempts == sorted(attempts) and len(attempts) == 10


def test_invalid_event_raises_at_once_and_sends_nothing(settings: Settings) -> None:
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    with EventProducer(settings) as producer:
        with pytest.raises(ContractError) as caught:
            producer.publish(sample_event("NtaServed", method="CARRIER_PIGEON"))
        assert caught.value.code == "bad_enum" and caught.value.field == "method"
    assert read_topic(settings.kafka.bootstrap, settings.topics.lifecycle.name) == []


def test_delivery_failure_is_surfaced_by_flush(settings: Settings) -> None:
    # No topic was created and the broker does not auto-create: the record cannot be delivered.
    quick = dataclasses.replace(settings, kafka=dataclasses.replace(settings.kafka, delivery_timeout_ms=3000))
    failed_references = []
    producer = EventProducer(quick)
    producer.publish(sample_event("CaseClosed"), on_failure=lambda ref, error: failed_references.append(ref),
                     reference="line 7")
    with pytest.raises(DeliveryError) as caught:
        producer.flush(timeout_s=30)
    assert caught.value.failures == 1
    assert failed_references == ["line 7"]


def test_unknown_producer_options_are_refused() -> None:
    with pytest.raises(SettingsError, match="lingerms"):
        ProducerOptions.from_mapping({"lingerms": 5})
    with pytest.raises(SettingsError, match="must be int"):
        ProducerOptions.from_mapping({"linger_ms": "5"})
    assert ProducerOptions.from_mapping({"linger_ms": 5}).linger_ms == 5
