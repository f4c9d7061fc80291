"""`ucwatch produce`: check the files, make sure the topics exist, import each file."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer

from ucwatch.core.deadletter import DeadLetterWriter
from ucwatch.core.errors import ContractError, InputFileError
from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.files import detect_format
from ucwatch.producers.importer import FileImporter, ImportSummary
from ucwatch.producers.sdk import EventProducer


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
