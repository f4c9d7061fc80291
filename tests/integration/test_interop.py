"""What ucwatch produces is plain Confluent Avro: confluent-kafka's own AvroDeserializer,
resolving ids over the Schema Registry REST API, decodes 1,000 simulated events with
keys equal to child_id and each child's events in the order they were published."""

from __future__ import annotations

import dataclasses
import itertools
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import RegistrySettings, Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry_server import EmbeddedRegistryServer
from ucwatch.simulate import Simulation, SimulationConfig

pytestmark = pytest.mark.kafka


@pytest.fixture
def registry(settings: Settings):
    server = EmbeddedRegistryServer(default_catalog(), [settings.topics.lifecycle.name]).start()
    yield server
    server.stop()


def _consume_all(settings: Settings, count: int) -> list:
    topic = settings.topics.lifecycle.name
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages = []
    for _ in range(120):
        messages += [m for m in consumer.consume(500, 0.5) if not m.error()]
        if len(messages) >= count:
            break
    consumer.close()
    return messages


@pytest.mark.parametrize("registry_mode", ["embedded", "http"])
def test_confluent_avro_deserializer_decodes_simulated_events(settings: Settings, registry, registry_mode: str) -> None:
    if registry_mode == "http":  # ids registered and resolved through the REST API
        settings = dataclasses.replace(settings, schema_registry=RegistrySettings(url=registry.url))
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    events = list(itertools.islice(Simulation(SimulationConfig(seed=3, children=200)).events(), 1000))
    assert len(events) == 1000
    with EventProducer(settings) as producer:
        for event in events:
            producer.publish(event)

    with SchemaRegistryClient({"url": registry.url}) as client:
        _check_decoded(settings, events, AvroDeserializer(client))


def _check_decoded(settings: Settings, events: list[dict], deserialize: AvroDeserializer) -> None:
    messages = _consume_all(settings, 1000)
    assert len(messages) == 1000
    published_order: dict[str, list[str]] = {}
    for event in events:
        published_order.setdefault(event["child_id"], []).append(event["event_id"])
    consumed_order: dict[str, list[str]] = {}
    for message in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        decoded = deserialize(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
        assert message.key().decode() == decoded["child_id"]
        consumed_order.setdefault(decoded["child_id"], []).append(decoded["event_id"])
    assert consumed_order == published_order

    sample = next(e for e in events if e["event_type"] == "ReleasedToSponsor")
    decoded = next(deserialize(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
                   for m in messages if m.key().decode() == sample["child_id"]
                   and deserialize(m.value(), SerializationContext(m.topic(), MessageField.VALUE))["event_id"]
                   == sample["event_id"])
    assert {k: decoded[k] for k in ("sponsor_id", "state", "county", "zip", "address_quality")} == \
           {k: sample[k] for k in ("sponsor_id", "state", "county", "zip", "address_quality")}
    assert decoded["occurred_at"].isoformat().replace("+00:00", "Z").startswith(sample["occurred_at"][:19])
