"""`ucwatch produce FILE...`: export files to Kafka, every line accounted for.

For each line: already handled by an earlier run (journal) -> skipped; unreadable or
breaking the contract -> dead-letter topic with the reason, file and line; otherwise
published through the SDK. Every `checkpoint_lines` lines, and at the end:

1. flush the event producer (Kafka has acknowledged every event produced so far);
2. flush the dead-letter producer (and every rejected line is on the dead-letter topic);
3. record those lines in the journal, then write the journal atomically.

A crash between 1 and 3 loses nothing: the journal lags, so the retry republishes that
stretch (duplicates by event_id, which consumers drop). A delivery failure keeps the
lines of that stretch out of the journal, so the next run sends them again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException

from ucwatch.core import deadletter
from ucwatch.core.deadletter import DeadLetter, DeadLetterWriter
from ucwatch.core.errors import ContractError, DeliveryError
from ucwatch.producers.files import InputLine, detect_format, read_lines
from ucwatch.producers.journal import ImportJournal
from ucwatch.producers.sdk import EventProducer

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_UNDELIVERED = 0, 1, 2, 3, 4


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
    def exit_code(self) -> int:
        if self.undelivered:
            return EXIT_UNDELIVERED
        if self.rejected or self.rejected_earlier:
            return EXIT_REJECTED
        return EXIT_OK

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "read": self.read, "published": self.published,
                "rejected": sum(self.rejected.values()), "rejected_by_reason": dict(self.rejected),
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
        if self.skipped:
            rows.append(f"  already done       {self.skipped:>10,}  (handled by an earlier run; not repeated)")
        if self.rejected_earlier:
            rows.append(f"  rejected earlier   {self.rejected_earlier:>10,}  (already on the dead-letter topic)")
        if self.undelivered:
            rows.append(f"  NOT DELIVERED      {self.undelivered:>10,}  (run the same command again to retry)")
            rows.extend(f"    {error}" for error in self.delivery_errors[:5])
        return "\n".join(rows)


class FileImporter:
    def __init__(self, producer: EventProducer, dead_letters: DeadLetterWriter, journal_dir: Path,
                 max_record_bytes: int, checkpoint_lines: int = 50_000) -> None:
        self._producer = producer
        self._dead_letters = dead_letters
        self._journal_dir = journal_dir
        self._max_record_bytes = max_record_bytes
        self._checkpoint_lines = checkpoint_lines
        self._allowed = {t: frozenset(f["name"] for f in producer.contract.schema_of(t).fields)
                         for t in producer.contract.event_types}
        self._any_allowed = frozenset().union(*self._allowed.values())

    def import_file(self, path: Path, summary: ImportSummary, fmt: str | None = None) -> None:
        journal = ImportJournal(self._journal_dir, path, self._producer.topic)
        summary.files += 1
        summary.rejected_earlier += journal.rejected_before
        origin = str(path)
        pending: list[int] = []
        pending_rejected = 0
        for item in read_lines(path, detect_format(path, fmt), self._max_record_bytes):
            summary.read += 1
            if journal.is_done(item.line):
                summary.skipped += 1
                continue
            if item.error is None:
                try:
                    self._producer.publish(item.fields, from_text=item.from_text)
                    summary.published += 1
                    summary.published_by_type[item.fields["event_type"]] += 1
                except ContractError as exc:
                    item.error = exc
                except KafkaException as exc:
                    summary.undelivered += 1
                    summary.delivery_errors.append(f"{origin}:{item.line}: {exc}")
                    continue
            if item.error is not None:
                self._dead_letters.send(self._letter(item, origin))
                summary.rejected[item.error.code] += 1
                pending_rejected += 1
            pending.append(item.line)
            if len(pending) >= self._checkpoint_lines:
                self._checkpoint(journal, pending, pending_rejected, summary)
                pending, pending_rejected = [], 0
        self._checkpoint(journal, pending, pending_rejected, summary)

    def _checkpoint(self, journal: ImportJournal, lines: list[int], rejected: int,
                    summary: ImportSummary) -> None:
        confirmed = True
        try:
            self._producer.flush()                                  # 1. events acknowledged
        except DeliveryError as exc:
            confirmed = False
            summary.undelivered += exc.failures
            summary.published -= exc.failures
            summary.delivery_errors.append(str(exc))
        letter_failures = self._dead_letters.flush()                # 2. dead letters acknowledged
        if letter_failures:
            confirmed = False
            summary.undelivered += len(letter_failures)
            summary.delivery_errors.extend(letter_failures)
        if confirmed and lines:
            journal.mark_done(lines, rejected)                      # 3. journal, atomically
            journal.save()

    def _letter(self, item: InputLine, origin: str) -> DeadLetter:
        error = item.error
        assert error is not None
        event_type = item.fields.get("event_type") if isinstance(item.fields, dict) else None
        contract = self._allowed.get(event_type, self._any_allowed) if isinstance(event_type, str) \
            else self._any_allowed
        return deadletter.for_input_line(
            reason_code=error.code, reason=error.message, origin=origin, line=item.line,
            raw=item.raw_text, parsed=item.fields, contract_fields=contract, field=error.field,
            stage="read" if item.fields is None else "validate")
