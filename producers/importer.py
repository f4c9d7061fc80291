"""`ucwatch produce FILE...`: export files to Kafka, every line accounted for.

For each line: already handled by an earlier run (journal) -> skipped; unreadable or
breaking the contract -> dead-letter topic with the reason, file and line; otherwise
published through the SDK. Every record's delivery report names its line
(producers/acks.py), so the journal records exactly the lines Kafka acknowledged:

1. every `checkpoint_lines` lines: the lines acknowledged so far are recorded in the
   journal, which is written atomically (no flush: production does not pause);
2. at the end, and on the way out of any exception: both producers are flushed (until
   every record has its answer; on an exception, `INTERRUPTED_FLUSH_S` at most), then the
   same.

A line cannot stop the file. Whatever goes wrong with one line (unreadable, refused by the
contract, or an exception nobody expected, coded `internal_error`) makes a dead letter for
that line, and dead-lettered lines are journaled like published ones, so a retry repeats
neither. If building or serializing the dead letter fails too, a bare one (the line's
file, number, size, hash and the reason) is sent instead. What is no line's fault (the
schema registry unreachable, a UcwatchError other than ContractError) stops the run, after
the checkpoint.

A record Kafka refused or timed out (the broker stopped under the run) keeps its own
line out of the journal, and only it: the retry sends exactly those lines, never one Kafka
acknowledged. A SIGKILL loses nothing: the journal lags by the lines acknowledged since
the last checkpoint, which the retry republishes (duplicates by event_id, which consumers
drop).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import KafkaException

from ucwatch.core import deadletter
from ucwatch.core.deadletter import DeadLetter
from ucwatch.core.errors import ContractError, DeliveryError, UcwatchError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.producers.acks import Acknowledgements, Undelivered
from ucwatch.producers.files import INTERNAL_ERROR, InputLine, detect_format, internal_error, read_lines
from ucwatch.producers.journal import ImportJournal
from ucwatch.schemas.contract import EventContract, shown_name

log = logging.getLogger("ucwatch.produce")

PROGRESS_EVERY_LINES = 1024
INTERRUPTED_FLUSH_S = 10.0
"""On the way out of an exception, wait this long for acknowledgements before giving up."""


class Publisher(Protocol):
    """What the importer needs of `EventProducer` (tests pass a double)."""

    topic: str
    contract: EventContract

    def publish(self, event: Mapping[str, Any], *, from_text: bool = False, reference: Any = None) -> str: ...

    def flush(self, timeout_s: float = 120.0) -> None: ...


class LetterSender(Protocol):
    """What the importer needs of `DeadLetterWriter`."""

    def send(self, letter: DeadLetter, on_delivery: Callable[[Any, Any], None] | None = None) -> None: ...

    def flush(self, timeout_s: float = 120.0) -> list[str]: ...


class Progress(Protocol):
    def update(self, done: int, total: int | None = None) -> None: ...


@dataclass
class ImportSummary:
    files: int = 0
    read: int = 0
    published: int = 0
    skipped: int = 0
    rejected_earlier: int = 0
    undelivered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    published_by_type: Counter[str] = field(default_factory=Counter)
    delivery_errors: list[str] = field(default_factory=list)

    @property
    def internal_errors(self) -> int:
        return self.rejected[INTERNAL_ERROR]

    @property
    def exit_code(self) -> ExitCode:
        """A bug outranks a delivery failure, which outranks rejected input."""
        if self.internal_errors:
            return ExitCode.INTERNAL
        if self.undelivered:
            return ExitCode.UNDELIVERED
        if self.rejected or self.rejected_earlier:
            return ExitCode.REJECTED
        return ExitCode.OK

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "read": self.read, "published": self.published,
                "rejected": sum(self.rejected.values()), "rejected_by_reason": dict(self.rejected),
                "internal_errors": self.internal_errors,
                "skipped_already_done": self.skipped, "rejected_in_earlier_runs": self.rejected_earlier,
                "undelivered": self.undelivered, "published_by_type": dict(self.published_by_type),
                "delivery_errors": self.delivery_errors[:5]}

    def render(self, deadletter_topic: str) -> str:
        rows = [f"ucwatch produce: {self.files} file(s), {self.read:,} line(s) read",
                f"  published          {self.published:>10,}"]
        for event_type, count in sorted(self.published_by_type.items()):
            rows.append(f"    {event_type:<26}{count:>8,}")
        rows.append(f"  rejected           {sum(self.rejected.values()):>10,}  (dead-letter topic {deadletter_topic})")
        for reason, count in sorted(self.rejected.items()):
            rows.append(f"    {reason:<26}{count:>8,}")
        if self.internal_errors:
            rows.append(f"  INTERNAL ERRORS    {self.internal_errors:>10,}  (a bug in ucwatch: those lines are on "
                        "the dead-letter topic; the traceback is in the log)")
        if self.skipped:
            rows.append(f"  already done       {self.skipped:>10,}  (handled by an earlier run; not repeated)")
        if self.rejected_earlier:
            rows.append(f"  rejected earlier   {self.rejected_earlier:>10,}  (already on the dead-letter topic)")
        if self.undelivered:
            rows.append(f"  NOT DELIVERED      {self.undelivered:>10,}  (run the same command again to retry)")
            rows.extend(f"    {error}" for error in self.delivery_errors[:5])
        return "\n".join(rows)


class FileImporter:
    def __init__(self, producer: Publisher, dead_letters: LetterSender, journal_dir: Path,
                 max_record_bytes: int, *, acks: Acknowledgements, checkpoint_lines: int = 10_000,
                 flush_timeout_s: float = 120.0) -> None:
        """`acks` is the tracker `producer` reports every delivery to (its `tracker`).
        `flush_timeout_s`: how long the last flush of a file may wait; longer than the
        producers' delivery timeout, so that every record has its answer by then."""
        self._acks = acks
        self._producer = producer
        self._dead_letters = dead_letters
        self._journal_dir = journal_dir
        self._max_record_bytes = max_record_bytes
        self._checkpoint_lines = checkpoint_lines
        self._flush_timeout_s = flush_timeout_s

    def import_file(self, path: Path, summary: ImportSummary, fmt: str | None = None,
                    progress: Progress | None = None) -> None:
        journal = ImportJournal(self._journal_dir, path, self._producer.topic)
        summary.files += 1
        summary.rejected_earlier += journal.rejected_before
        origin = str(path)
        acks = self._acks
        acks.forget()
        handled = 0
        finished = False
        try:
            for item in read_lines(path, detect_format(path, fmt), self._max_record_bytes):
                summary.read += 1
                if progress is not None and summary.read % PROGRESS_EVERY_LINES == 0:
                    progress.update(item.line, max(journal.lines, item.line))
                if journal.is_done(item.line):
                    summary.skipped += 1
                    continue
                self._handle(item, origin, summary, acks)
                handled += 1
                if handled % self._checkpoint_lines == 0:
                    self._record(journal, acks, summary)
            finished = True
        finally:
            # On the way out of an exception too: what Kafka acknowledged is journaled,
            # so that the retry does not send it again.
            self._flush(summary, self._flush_timeout_s if finished else INTERRUPTED_FLUSH_S)
            self._record(journal, acks, summary)
            acks.forget()  # an answer after the flush gave up may not be journaled now
        if progress is not None:
            progress.update(journal.lines, journal.lines)

    def _handle(self, item: InputLine, origin: str, summary: ImportSummary, acks: Acknowledgements) -> None:
        """Publishes or dead-letters one line; its delivery report goes to `acks`."""
        if item.error is None:
            try:
                self._producer.publish(item.fields, from_text=item.from_text, reference=item.line)
            except ContractError as exc:
                item.error = exc
            except KafkaException as exc:
                summary.undelivered += 1
                summary.delivery_errors.append(f"{origin}:{item.line}: {_kafka_message(exc)}")
                return
            except UcwatchError:  # not the line's fault (e.g. the registry is down): stop the run
                raise
            except Exception as exc:  # a bug must cost this line only, never the rest of the file
                log.exception("%s:%d could not be published", origin, item.line)
                item.error = internal_error(exc, "publishing")
            else:
                summary.published += 1
                summary.published_by_type[item.fields["event_type"]] += 1
                return
        assert item.error is not None
        try:
            self._send_letter(item, origin, acks)
        except KafkaException as exc:
            summary.undelivered += 1
            summary.delivery_errors.append(f"{origin}:{item.line}: dead letter not sent: {_kafka_message(exc)}")
            return
        summary.rejected[item.error.code] += 1

    def _send_letter(self, item: InputLine, origin: str, acks: Acknowledgements) -> None:
        try:
            letter = self._letter(item, origin)
        except Exception as exc:  # the letter itself failed: send one that cannot
            log.exception("%s:%d: dead letter could not be built", origin, item.line)
            item.error = internal_error(exc, "dead-lettering")
            item.fields = None
            letter = self._letter(item, origin)
        assert item.error is not None
        try:
            self._dead_letters.send(letter, on_delivery=acks.for_letter(item.line, item.error.code))
        except KafkaException:
            raise
        except Exception as exc:  # sending it failed (not Kafka's answer): send a bare one
            log.exception("%s:%d: dead letter could not be sent", origin, item.line)
            item.error = internal_error(exc, "dead-lettering")
            item.fields = None
            self._dead_letters.send(self._letter(item, origin),
                                    on_delivery=acks.for_letter(item.line, item.error.code))

    def _flush(self, summary: ImportSummary, timeout_s: float) -> None:
        """Waits for the answer to every record produced (the callbacks run meanwhile).
        Records still without one are counted as not delivered; their lines stay out of
        the journal."""
        try:
            self._producer.flush(timeout_s)
        except DeliveryError as exc:  # records still unanswered (their reports never came)
            summary.undelivered += exc.failures
            summary.published -= exc.failures
            summary.delivery_errors.append(str(exc))
        for failure in self._dead_letters.flush(timeout_s):
            summary.undelivered += 1
            summary.delivery_errors.append(failure)

    def _record(self, journal: ImportJournal, acks: Acknowledgements, summary: ImportSummary) -> None:
        """Journals the lines acknowledged since the last time, and counts the failures."""
        lines, letters, failed = acks.take()
        for failure in failed:
            _count_failure(summary, failure, journal.source)
        if lines:
            journal.mark_done(lines, letters)
            journal.save()

    def _letter(self, item: InputLine, origin: str) -> DeadLetter:
        return letter_for(item, origin, self._producer.contract)


def letter_for(item: InputLine, origin: str, contract: EventContract) -> DeadLetter:
    """The dead letter of a refused line: its fingerprint, the reason, and only the values
    that passed their own check (the rest of a refused line may be anything)."""
    error = item.error
    assert error is not None
    letter = deadletter.for_input_line(
        reason_code=error.code, reason=error.message, origin=origin, line=item.line, raw=item.raw,
        parsed=_names_fit_to_show(item.fields), field=error.field,
        contract_fields=contract.valid_fields(item.fields, from_text=item.from_text),
        stage="read" if item.fields is None else "validate")
    if item.fingerprint is not None:  # the line was too long to keep: hashed as it was read
        sha256, size = item.fingerprint
        letter = dataclasses.replace(letter, raw_sha256=sha256, raw_bytes=size)
    letter.to_json()  # fails here, not in the producer, if the letter cannot be serialized
    return letter


MAX_DELIVERY_ERRORS = 20
"""Failures kept by name in the summary (a broker outage fails every record in flight)."""


def _count_failure(summary: ImportSummary, failure: Undelivered, origin: Path) -> None:
    summary.undelivered += 1
    what = ""
    if failure.dead_letter:
        assert failure.reason_code is not None
        summary.rejected[failure.reason_code] -= 1
        summary.rejected += Counter()  # drops a count that fell to zero
        what = "dead letter not delivered: "
    else:
        summary.published -= 1
    if len(summary.delivery_errors) < MAX_DELIVERY_ERRORS:
        summary.delivery_errors.append(f"{origin}:{failure.line}: {what}{failure.reason}")


def _kafka_message(exc: KafkaException) -> str:
    """librdkafka's own words, not the repr of its KafkaError."""
    error = exc.args[0] if exc.args else None
    describe = getattr(error, "str", None)
    return str(describe()) if callable(describe) else str(exc)


def _names_fit_to_show(parsed: Any) -> Any:
    """The parsed line with keys that may be data themselves (not field-name style) renamed."""
    if not isinstance(parsed, dict):
        return parsed
    return {name if shown == name else f"{shown} #{number}": value
            for number, (name, value) in enumerate(parsed.items(), start=1)
            for shown in (shown_name(name),)}
