"""The HTTP registry path against a real Confluent-compatible registry (Apicurio Registry):
schemas are registered on first use, records carry the registry's ids, both ucwatch and
confluent-kafka decode them, and the registry enforces BACKWARD compatibility."""

from __future__ import annotations

import copy
import dataclasses
import json

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import read_topic, sample_event
from ucwatch.core.errors import RegistryError
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import RegistrySettings, Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.registry import HttpRegistry, topic_record_subject
from ucwatch.schemas.serde import Decoder
from ucwatch.schemas.wire import split

pytestmark = [pytest.mark.kafka, pytest.mark.registry]


def test_events_round_trip_through_a_real_registry(settings: Settings, confluent_registry_url: str) -> None:
    settings = dataclasses.replace(settings, schema_registry=RegistrySettings(url=confluent_registry_url))
    ensure_topics(wait_for_kafka(settings), settings, [settings.topics.lifecycle])
    sent = [sample_event(t, child=n) for n, t in enumerate(["ChildEncountered", "ReleasedToSponsor",
                                                            "HearingScheduled", "CaseClosed"] * 5)]
    with EventProducer(settings) as producer:
        for event in sent:
            producer.publish(event)

    topic = settings.topics.lifecycle.name
    subject = topic_record_subject(topic, default_catalog().latest("ReleasedToSponsor"))
    versions = httpx.get(f"{confluent_registry_url}/subjects/{subject}/versions").json()
    assert versions == [1]
    registered_id = httpx.get(f"{confluent_registry_url}/subjects/{subject}/versions/1").json()["id"]

    records = read_topic(settings.kafka.bootstrap, topic)
    assert len(records) == len(sent)
    with HttpRegistry(confluent_registry_url) as registry, \
            SchemaRegistryClient({"url": confluent_registry_url}) as client:
        _compare(records, topic, sent, Decoder(registry, default_catalog()), AvroDeserializer(client),
                 registered_id)


def _compare(records, topic, sent, ours, theirs, registered_id) -> None:
    by_id = {e["event_id"]: e for e in sent}
    for record in records:
        decoded = ours.decode(record.value)
        assert decoded == theirs(record.value, SerializationContext(topic, MessageField.VALUE))
        assert decoded["child_id"] == by_id[decoded["event_id"]]["child_id"] == record.key.decode()
        if decoded["event_type"] == "ReleasedToSponsor":
            assert split(record.value)[0] == registered_id


def test_the_registry_refuses_a_backward_incompatible_version(confluent_registry_url: str) -> None:
    with HttpRegistry(confluent_registry_url) as registry:
        _check_compatibility_enforced(registry, confluent_registry_url)


def _check_compatibility_enforced(registry: HttpRegistry, confluent_registry_url: str) -> None:
    current = default_catalog().latest("NtaServed")
    subject_topic = "compat-check"
    registry.id_for(subject_topic, current)
    subject = topic_record_subject(subject_topic, current)
    response = httpx.put(f"{confluent_registry_url}/config/{subject}", json={"compatibility": "BACKWARD"})
    assert response.status_code == 200, response.text

    breaking = copy.deepcopy(current.definition)
    breaking["fields"].append({"name": "served_by", "type": "string"})  # new field, no default
    with pytest.raises(RegistryError, match="409"):
        registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, breaking))

    compatible = copy.deepcopy(current.definition)
    compatible["fields"].append({"name": "served_by", "type": ["null", "string"], "default": None})
    new_id = registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, compatible))
    assert json.loads(httpx.get(f"{confluent_registry_url}/schemas/ids/{new_id}").json()["schema"])["fields"][-1][
        "name"] == "served_by"
