"""The HTTP registry path against a real Confluent-compatible registry (Apicurio Registry):
schemas are registered on first use, records carry the registry's ids, both ucwatch and
confluent-kafka decode them, the registry enforces BACKWARD compatibility and an unknown
id is told apart by its error code."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import read_topic, sample_event
from tests.unit.test_compat import CASES as COMPAT_CASES
from ucwatch.core.errors import SchemaIdUnknown
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import RegistrySettings, Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.compat import problems
from ucwatch.schemas.registry import HttpRegistry, RegistryRefused, topic_record_subject
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
    records = read_topic(settings.kafka.bootstrap, topic)
    assert len(records) == len(sent)
    with HttpRegistry(confluent_registry_url) as registry, \
            SchemaRegistryClient({"url": confluent_registry_url}) as client:
        assert client.get_versions(subject) == [1]
        registered_id = client.get_version(subject, 1).schema_id
        _compare(records, topic, sent, ours=Decoder(registry, default_catalog()), theirs=AvroDeserializer(client),
                 registered_id=registered_id)


def _compare(records, topic, sent, *, ours, theirs, registered_id) -> None:
    by_id = {e["event_id"]: e for e in sent}
    for record in records:
        decoded = ours.decode(record.value)
        assert decoded == theirs(record.value, SerializationContext(topic, MessageField.VALUE))
        assert decoded["child_id"] == by_id[decoded["event_id"]]["child_id"] == record.key.decode()
        if decoded["event_type"] == "ReleasedToSponsor":
            assert split(record.value)[0] == registered_id


def test_the_registry_refuses_a_backward_incompatible_version(confluent_registry_url: str) -> None:
    with HttpRegistry(confluent_registry_url) as registry:
        _check_compatibility_enforced(registry)


def _check_compatibility_enforced(registry: HttpRegistry) -> None:
    current = default_catalog().latest("NtaServed")
    subject_topic = "compat-check"
    registry.id_for(subject_topic, current)
    subject = topic_record_subject(subject_topic, current)
    assert registry.client.set_compatibility(subject, "BACKWARD") == {"compatibility": "BACKWARD"}

    breaking = copy.deepcopy(current.definition)
    breaking["fields"].append({"name": "served_by", "type": "string"})  # new field, no default
    with pytest.raises(RegistryRefused, match="409") as refused:
        registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, breaking))
    assert (refused.value.status, refused.value.subject) == (409, subject)

    compatible = copy.deepcopy(current.definition)
    compatible["fields"].append({"name": "served_by", "type": ["null", "string"], "default": None})
    new_id = registry.id_for(subject_topic, SchemaVersion(current.family, current.name, 2, compatible))
    assert json.loads(registry.client.get_schema(new_id).schema_str)["fields"][-1]["name"] == "served_by"


def test_an_id_the_registry_does_not_know(confluent_registry_url: str) -> None:
    with HttpRegistry(confluent_registry_url) as registry, pytest.raises(SchemaIdUnknown):
        registry.writer_schema(987_654_321)


def test_the_registry_and_our_check_agree_on_every_change_of_the_corpus(confluent_registry_url: str) -> None:
    """Our BACKWARD check (Avro's checker after fastavro's parse) against the registry's own
    compatibility endpoint: the same verdict on every case, and both the spec's."""
    verdicts = []
    with HttpRegistry(confluent_registry_url) as registry:
        client = registry.client
        for number, (label, writer, reader, compatible) in enumerate(COMPAT_CASES):
            subject = f"compat-corpus-{uuid.uuid4().hex[:8]}-{number}"
            client.register_schema(subject, Schema(json.dumps(writer), "AVRO"))
            client.set_compatibility(subject, "BACKWARD")
            try:
                theirs = client.test_compatibility(subject, Schema(json.dumps(reader), "AVRO"))
            except SchemaRegistryError as exc:  # 422: the new schema is not valid at all
                assert exc.http_status_code == 422, (label, exc)
                theirs = False
            verdicts.append((label, compatible, theirs, problems(reader, writer) == []))
    assert [v for v in verdicts if not v[1] == v[2] == v[3]] == []
