"""`ucwatch produce`: check the files, make sure the topics exist, import each file.

Every file is checked before Kafka is touched (it exists, its format is known, a CSV
header is readable), so a bad command line publishes nothing. Progress, in lines, goes
to stderr (`ucwatch.core.progress_bar`); the summary is the caller's to print.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import Producer

from ucwatch.core.deadletter import DeadLetterWriter
from ucwatch.core.errors import ContractError, InputFileError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.progress_bar import ProgressBar
from ucwatch.core.settings import Settings
from ucwatch.producers.acks import Acknowledgements
from ucwatch.producers.files import check_header, detect_format
from ucwatch.producers.importer import FileImporter, ImportSummary
from ucwatch.producers.sdk import EventProducer
from ucwatch.producers.watermarks import parse_declaration

FLUSH_MARGIN_S = 30.0
"""The last flush of a file waits this much longer than the delivery timeout, by which
librdkafka has answered for every record."""


def produce_files(settings: Settings, files: list[Path], fmt: str | None = None, *,
                  show_progress: bool = True, complete_up_to: Sequence[str] = ()) -> ImportSummary:
    """`complete_up_to`: SOURCE=TIMESTAMP declarations (producers/watermarks.py) written
    after the files, only if every line of them was published."""
    for path in files:  # refuse a bad command line before touching Kafka
        check_file(path, fmt, settings.validation.max_record_bytes)
    try:
        declared = [parse_declaration(text) for text in complete_up_to]
    except ContractError as exc:
        raise InputFileError(f"--complete-up-to: {exc.message}") from None
    admin = wait_for_kafka(settings, before="publishing anything")
    ensure_topics(admin, settings, [settings.topics.lifecycle, settings.topics.deadletter])
    acks = Acknowledgements()  # hears every delivery: the journal records each acknowledged line
    producer = EventProducer(settings, tracker=acks)
    dead_letters = DeadLetterWriter(dead_letter_producer(settings), settings.topics.deadletter.name)
    importer = FileImporter(producer, dead_letters, settings.data_dir / "import-journal",
                            settings.validation.max_record_bytes, acks=acks,
                            flush_timeout_s=settings.kafka.delivery_timeout_ms / 1000 + FLUSH_MARGIN_S)
    summary = ImportSummary()
    for path in files:
        label = "produce " + path.name.encode("utf-8", "replace").decode("utf-8")
        with ProgressBar(label, unit="lines", enabled=show_progress) as bar:
            try:
                importer.import_file(path, summary, fmt, progress=bar)
            except (ContractError, OSError) as exc:  # the file as a whole, e.g. it went away mid-read
                raise InputFileError(f"{path}: {_describe(exc)}") from None
    for source, up_to in declared:
        if summary.exit_code != ExitCode.OK:   # a line not published: the period is not complete
            print(f"ucwatch produce: {source} not declared complete: not every line was published",
                  file=sys.stderr)
            continue
        partitions = producer.declare_watermark(source, up_to, issued_by="produce")
        print(f"ucwatch produce: {source} declared complete up to {up_to} ms on {partitions} partition(s)",
              file=sys.stderr)
    return summary


def check_file(path: Path, fmt: str | None, max_record_bytes: int) -> None:
    """Raises InputFileError for a file that cannot be imported at all."""
    try:
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
        path.open("rb").close()
        check_header(path, detect_format(path, fmt), max_record_bytes)
    except ContractError as exc:
        raise InputFileError(exc.message) from None
    except OSError as exc:
        raise InputFileError(f"{path}: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ContractError):
        return exc.message
    if isinstance(exc, OSError):
        return f"cannot read it: {exc.strerror or exc}"
    return str(exc)


def dead_letter_producer(settings: Settings) -> Producer:
    return Producer({**client_config(settings), "enable.idempotence": True, "acks": "all",
                     "partitioner": "murmur2_random", "delivery.timeout.ms": settings.kafka.delivery_timeout_ms,
                     "linger.ms": 20, "message.max.bytes": 2 * 1024 * 1024 + 4096})
