"""Printing a topic as JSON Lines, from the beginning, optionally following it live:
`ucwatch alerts`, `ucwatch notifications`, `ucwatch deadletters`. The first way
operations staff watch what ucwatch says; `--child` keeps one child's records only.
The command audit-logs the read before calling `print_topic`."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from confluent_kafka import Consumer, TopicPartition

from ucwatch.core.errors import ContractError
from ucwatch.core.kafka_admin import client_config
from ucwatch.core.settings import Settings
from ucwatch.core.topic_reader import read_to_end, topic_partitions
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder

Render = Callable[[bytes], dict[str, Any]]


def avro_renderer(settings: Settings) -> Render:
    decoder = Decoder(registry_for(settings.schema_registry, default_catalog()), default_catalog())
    return decoder.decode


def json_renderer(value: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(value)
    return document


def print_topic(settings: Settings, topic: str, render: Render, *, follow: bool = False,
                child: str | None = None, out: TextIO = sys.stdout, errors: TextIO = sys.stderr) -> Printed:
    """Prints every record (of one child, if given). A record that cannot be read is
    skipped with one line on `errors` naming where it is and why; the others still print."""
    printed = Printed()
    wanted = child.encode() if child else None
    for partition, offset, key, value in (_follow(settings, topic) if follow else (
            (r.partition, r.offset, r.key, r.value) for r in read_to_end(client_config(settings), topic))):
        if (wanted is not None and key != wanted) or value is None:  # None: a tombstone
            continue
        try:
            document = render(value)
        except (ContractError, ValueError) as error:  # ValueError: JSON of a dead letter
            print(f"skipped {topic}:{partition}:{offset}: {error}", file=errors, flush=True)
            printed.skipped += 1
            continue
        print(json.dumps(document, default=json_default), file=out, flush=follow)
        printed.shown += 1
    return printed


@dataclass
class Printed:
    shown: int = 0
    skipped: int = 0


def _follow(settings: Settings, topic: str) -> Iterator[tuple[int | None, int | None, bytes | None, bytes | None]]:
    client = client_config(settings)
    consumer = Consumer({**client, "group.id": f"watch-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = topic_partitions(consumer, topic, client)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        while True:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                yield message.partition(), message.offset(), message.key(), message.value()
    finally:
        consumer.close()


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
