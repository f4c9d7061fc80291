"""Wiring for the producer-side commands: `ucwatch produce` and `ucwatch simulate`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from confluent_kafka import Producer

from producers.deadletter import DeadLetterWriter
from producers.files import detect_format
from producers.importer import FileImporter, ImportSummary
from producers.sdk import EventProducer
from ucwatch.errors import ContractError, InputFileError
from ucwatch.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.settings import Settings


def produce_files(settings: Settings, files: list[Path], fmt: str | None = None) -> ImportSummary:
    for path in files:  # refuse a bad command line before touching Kafka
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
        try:
            detect_format(path, fmt)
        except ContractError as exc:
            raise InputFileError(exc.message) from None
    admin = wait_for_kafka(settings)
    ensure_topics(admin, settings, [settings.topics.lifecycle, settings.topics.deadletter])
    producer = EventProducer(settings)
    dead_letters = DeadLetterWriter(dead_letter_producer(settings), settings.topics.deadletter.name)
    importer = FileImporter(producer, dead_letters, settings.data_dir / "import-journal",
                            settings.validation.max_record_bytes)
    summary = ImportSummary()
    for path in files:
        try:
            importer.import_file(path, summary, fmt)
        except ContractError as exc:  # a file-level problem, e.g. a CSV header repeating a column
            raise InputFileError(exc.message) from None
    return summary


def dead_letter_producer(settings: Settings) -> Producer:
    return Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                     "partitioner": "murmur2_random",
                     "linger.ms": 20, "message.max.bytes": 2 * 1024 * 1024 + 4096})


def simulate_command(settings: Settings, *, children: int | None, seed: int, out: Path | None,
                     publish: bool, truth: Path | None) -> int:
    """Generates a history once, writing it as JSON Lines and/or publishing it."""
    from producers.simulate import Simulation, SimulationConfig, write_jsonl

    if out is None and not publish:
        raise InputFileError("say where the history goes: --out FILE, --publish, or both")
    simulation = Simulation(SimulationConfig(seed=seed, children=children))
    events = simulation.events()
    published_by_type: Counter[str] = Counter()
    if publish:
        admin = wait_for_kafka(settings)
        ensure_topics(admin, settings, [settings.topics.lifecycle, settings.topics.deadletter])
        producer = EventProducer(settings)
        events = _publishing(events, producer, published_by_type)
    if out is not None:
        written = write_jsonl(events, sys.stdout if str(out) == "-" else out)
        print(f"wrote {written:,} events to {out}", file=sys.stderr)
    else:
        for _ in events:
            pass
    if publish:
        producer.flush()
        for event_type, count in sorted(published_by_type.items()):
            print(f"published {event_type:<28}{count:>10,}", file=sys.stderr)
    if truth is not None:
        truth.write_text(json.dumps(simulation.truth.as_dict(), indent=2))
    return 0


def _publishing(events: Iterable[dict], producer: EventProducer, counts: Counter[str]) -> Iterator[dict]:
    for event in events:
        producer.publish(event)
        counts[event["event_type"]] += 1
        yield event
