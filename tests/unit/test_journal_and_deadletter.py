"""The import journal never leads Kafka; dead letters keep the input's fingerprint but not
its content; no line stops the file (the importer with doubles for the producers)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import sample_event
from ucwatch.core import deadletter
from ucwatch.core.errors import RegistryError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.producers.acks import Acknowledgements
from ucwatch.producers.importer import FileImporter, ImportSummary
from ucwatch.producers.journal import ImportJournal
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import EventContract
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder


def test_journal_merges_ranges_and_survives_a_restart(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("x\n" * 10)
    journal = ImportJournal(tmp_path / "j", source, "topic")
    journal.mark_done([1, 2, 3, 5], rejected=1)
    journal.mark_done([4, 6])
    journal.save()
    again = ImportJournal(tmp_path / "j", source, "topic")
    assert [again.is_done(n) for n in range(1, 8)] == [True] * 6 + [False]
    assert again.done_count == 6 and again.rejected_before == 1


def test_journal_is_per_content_and_topic(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("x\n")
    journal = ImportJournal(tmp_path / "j", source, "topic")
    journal.mark_done([1])
    journal.save()
    assert not ImportJournal(tmp_path / "j", source, "other-topic").is_done(1)
    source.write_text("y\n")
    assert not ImportJournal(tmp_path / "j", source, "topic").is_done(1)


def test_dead_letter_keeps_contract_values_and_withholds_the_rest() -> None:
    raw = {"event_type": "CaseClosed", "child_name": "Maria", "outcome": "OTHER", "child_id": "A-012-345-678"}
    text = json.dumps(raw)
    letter = deadletter.for_input_line(
        reason_code="unknown_field", reason="child_name not in contract", origin="f.jsonl", line=3,
        raw=text, parsed=raw, contract_fields={"event_type", "outcome", "child_id"}, field="child_id")
    document = json.loads(letter.to_json())
    assert document["fields"] == {"event_type": "CaseClosed", "outcome": "OTHER"}
    assert document["withheld_fields"] == ["child_id", "child_name"]
    assert "Maria" not in letter.to_json().decode() and "012-345" not in letter.to_json().decode()
    assert document["line"] == 3 and document["raw_bytes"] == len(text)
    assert document["raw_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert document["child_id"] is None  # a raw A-number is no token


def test_dead_letter_of_an_unparsed_line_carries_only_its_fingerprint() -> None:
    text = "Maria Lopez, 12 Elm Street, A012345678\ud800"
    document = json.loads(deadletter.for_input_line(
        reason_code="not_json", reason="not JSON", origin="f.jsonl", line=9, raw=text, parsed=None,
        contract_fields={"event_type"}, stage="read").to_json())
    assert "Maria" not in json.dumps(document) and "Elm" not in json.dumps(document)
    assert document["fields"] == {} and document["raw_bytes"] == len(text.encode("utf-8", "surrogatepass"))


def test_dead_letter_of_a_kafka_record_points_at_it() -> None:
    document = json.loads(deadletter.for_record(
        reason_code="undecodable", reason="bad magic byte", stage="sink", topic="t", partition=2,
        offset=41, value=b"Maria Lopez", key=b"CH-ABC").to_json())
    assert document["origin"] == "t:2:41" and document["child_id"] == "CH-ABC"
    assert "Maria" not in json.dumps(document) and document["raw_bytes"] == 11


# --- the importer, with the producer and the dead-letter writer replaced by doubles ---------

class _Publisher:
    """EventProducer's contract and encoder, with Kafka replaced by a list."""

    topic = "lifecycle"

    def __init__(self, fail_on: dict[str, BaseException] | None = None) -> None:
        self.contract = EventContract(default_catalog())
        self._encoder = Encoder(EmbeddedRegistry(default_catalog()), self.topic)
        self._fail_on = fail_on or {}
        self.refused: dict[str, object] = {}
        """event_id -> the delivery error Kafka answers with"""
        self.queued: list[tuple[str, bytes]] = []
        self.acks = Acknowledgements()
        self.acknowledged: list[str] = []

    def publish(self, event, *, from_text: bool = False, reference=None) -> str:
        schema, record = self.contract.normalize(event, from_text=from_text)
        failure = self._fail_on.get(record["event_id"])
        if failure is not None:
            raise failure
        value = self._encoder.encode(schema, record)
        self.acks.sent(value, reference)  # as EventProducer does with its tracker
        self.queued.append((record["event_id"], value))
        return record["child_id"]

    def flush(self, timeout_s: float = 120.0) -> None:
        """Kafka answers every record queued: acknowledged, or the error planted for it."""
        for event_id, value in self.queued:
            error = self.refused.get(event_id)
            if error is None:
                self.acknowledged.append(event_id)
            self.acks.on_delivery(error, _Message(value))
        self.queued = []


class _Message:
    """What a delivery report carries, as far as the importer reads it."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


class _Letters:
    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[dict] = []
        self._fail_first = fail_first
        self._queued: list = []

    def send(self, letter: deadletter.DeadLetter, on_delivery=None) -> None:
        if self._fail_first:
            self._fail_first -= 1
            raise ValueError("cannot send this one")
        self.sent.append(json.loads(letter.to_json()))
        self._queued.append(on_delivery)

    def flush(self, timeout_s: float = 120.0) -> list[str]:
        for on_delivery in self._queued:
            if on_delivery is not None:
                on_delivery(None, None)
        self._queued = []
        return []


def _import(tmp_path: Path, source: Path, publisher: _Publisher, letters: _Letters,
            checkpoint_lines: int = 50_000) -> ImportSummary:
    summary = ImportSummary()
    FileImporter(publisher, letters, tmp_path / "journal", 16_384, acks=publisher.acks,
                 checkpoint_lines=checkpoint_lines).import_file(source, summary)
    return summary


CRASHERS = [  # each crashed the whole run with a traceback before
    (json.dumps(sample_event("CaseClosed", occurred_at=10**30)), "out_of_range"),   # OverflowError
    ("[" * 5000 + "]" * 5000, "malformed_json"),                                      # RecursionError
    (json.dumps({**sample_event("CaseClosed"), "\ud800": "x"}), "unknown_field"),    # UnicodeEncodeError
    ('{"event_type": ' + "9" * 5000 + "}", "malformed_json"),                        # ValueError (digits)
    (json.dumps(sample_event("CaseClosed", event_type=[[[]]])), "wrong_type"),
]


def test_lines_that_crashed_the_run_are_dead_letters_and_the_file_goes_on(tmp_path: Path) -> None:
    good = [sample_event("CaseClosed", child=n) for n in range(6)]
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join([json.dumps(good[0])] + [text for text, _ in CRASHERS] +
                                [json.dumps(e) for e in good[1:]]) + "\n")
    publisher, letters = _Publisher(), _Letters()
    summary = _import(tmp_path, source, publisher, letters)
    assert publisher.acknowledged == [e["event_id"] for e in good]
    assert [(letter["line"], letter["reason_code"]) for letter in letters.sent] == \
           [(2 + n, code) for n, (_, code) in enumerate(CRASHERS)]
    assert summary.exit_code == ExitCode.REJECTED


def test_a_retry_after_a_bad_line_in_a_large_file_publishes_nothing_twice(tmp_path: Path) -> None:
    # The reported case: a crasher at line 65,001 and a checkpoint every 50,000 lines made
    # every retry publish lines 50,001-65,000 again. Scaled down: 650 lines, checkpoints of 500.
    lines = [json.dumps(sample_event("CaseClosed", child=n)) for n in range(700)]
    lines[650] = json.dumps(sample_event("CaseClosed", occurred_at=10**30))
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join(lines) + "\n")
    first = _Publisher()
    assert _import(tmp_path, source, first, _Letters(), checkpoint_lines=500).published == 699
    again, letters = _Publisher(), _Letters()
    summary = _import(tmp_path, source, again, letters, checkpoint_lines=500)
    assert (again.acknowledged, letters.sent, summary.skipped, summary.rejected_earlier) == ([], [], 700, 1)


def test_a_bug_on_one_line_is_a_dead_letter_coded_internal_error_and_exit_internal(tmp_path: Path) -> None:
    events = [sample_event("CaseClosed", child=n) for n in range(3)]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    publisher = _Publisher(fail_on={events[1]["event_id"]: TypeError("a bug")})
    letters = _Letters()
    summary = _import(tmp_path, source, publisher, letters)
    assert publisher.acknowledged == [events[0]["event_id"], events[2]["event_id"]]
    assert [(x["line"], x["reason_code"]) for x in letters.sent] == [(2, "internal_error")]
    assert summary.exit_code == ExitCode.INTERNAL and summary.internal_errors == 1


def test_a_dead_letter_that_cannot_be_sent_is_replaced_by_a_bare_one(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(json.dumps(sample_event("CaseClosed", outcome="MAYBE")) + "\n")
    letters = _Letters(fail_first=1)
    summary = _import(tmp_path, source, _Publisher(), letters)
    assert [(x["line"], x["reason_code"], x["fields"]) for x in letters.sent] == [(1, "internal_error", {})]
    assert summary.exit_code == ExitCode.INTERNAL


def test_an_interruption_journals_what_kafka_acknowledged(tmp_path: Path) -> None:
    events = [sample_event("CaseClosed", child=n) for n in range(10)]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    interrupted = _Publisher(fail_on={events[6]["event_id"]: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        _import(tmp_path, source, interrupted, _Letters())
    assert len(interrupted.acknowledged) == 6
    retry = _Publisher()
    _import(tmp_path, source, retry, _Letters())
    assert retry.acknowledged == [e["event_id"] for e in events[6:]]


def test_rejected_lines_of_every_kind_carry_no_raw_content(tmp_path: Path) -> None:
    secret = "Maria Lopez, 12 Elm Street, A012345678"
    bad = [
        json.dumps({**sample_event("CaseClosed"), "outcome": secret}),     # bad_enum: value at fault
        json.dumps({**sample_event("CaseClosed"), "sponsor_name": secret}),  # unknown_field
        json.dumps(sample_event("CaseClosed", child_id="A012345678")),      # raw_identifier
        json.dumps(sample_event("CaseClosed", event_type=secret)),          # unknown_event_type
        '{"note": "' + secret + '", ',                                        # malformed_json
        '{"note": "' + secret + '\udcff"}',                                   # bad_encoding (written as \xff)
        '{"note": "' + secret * 500 + '"}',                                  # oversize
    ]
    source = tmp_path / "export.jsonl"
    source.write_bytes("\n".join(bad).encode("utf-8", "surrogateescape") + b"\n")
    letters = _Letters()
    _import(tmp_path, source, _Publisher(), letters)
    assert [x["reason_code"] for x in letters.sent] == [
        "bad_enum", "unknown_field", "raw_identifier", "unknown_event_type", "malformed_json", "bad_encoding",
        "oversize"]
    for letter, line in zip(letters.sent, source.read_bytes().split(b"\n"), strict=False):
        text = json.dumps(letter)
        assert "Maria" not in text and "Elm" not in text and "012345678" not in text, text
        assert (letter["raw_sha256"], letter["raw_bytes"]) == (hashlib.sha256(line).hexdigest(), len(line))


def test_only_values_that_passed_their_check_ride_along(tmp_path: Path) -> None:
    # The contract stops at the first fault (recorded_at); source and outcome come later and
    # were never checked by it, so their values must not be kept for being contract fields.
    event = sample_event("CaseClosed", outcome="MAYBE", source="maria lopez", recorded_at="12 elm street")
    source = tmp_path / "export.jsonl"
    source.write_text(json.dumps(event) + "\n")
    letters = _Letters()
    _import(tmp_path, source, _Publisher(), letters)
    (letter,) = letters.sent
    assert letter["fields"] == {k: event[k] for k in ("event_id", "event_type", "child_id", "occurred_at",
                                                        "synthetic")}
    assert letter["withheld_fields"] == ["outcome", "recorded_at", "source"]


def test_progress_is_reported_in_lines_of_the_file(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(sample_event("CaseClosed", child=n)) + "\n" for n in range(2500)))
    updates: list[tuple[int, int | None]] = []

    class Progress:
        def update(self, done: int, total: int | None = None) -> None:
            updates.append((done, total))

    summary = ImportSummary()
    publisher = _Publisher()
    FileImporter(publisher, _Letters(), tmp_path / "journal", 16_384, acks=publisher.acks).import_file(source, summary,
                                                                                      progress=Progress())
    assert updates == [(1024, 2500), (2048, 2500), (2500, 2500)]


def test_a_registry_outage_stops_the_run_and_is_no_line_s_fault(tmp_path: Path) -> None:
    events = [sample_event("CaseClosed", child=n) for n in range(5)]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    down = _Publisher(fail_on={events[2]["event_id"]: RegistryError("schema registry unreachable")})
    letters = _Letters()
    with pytest.raises(RegistryError):
        _import(tmp_path, source, down, letters)
    assert (len(down.acknowledged), letters.sent) == (2, [])
    retry = _Publisher()
    _import(tmp_path, source, retry, _Letters())
    assert retry.acknowledged == [e["event_id"] for e in events[2:]]


class _KafkaError:
    """What librdkafka hands a delivery callback on failure."""

    def str(self) -> str:
        return "Local: Message timed out"


def test_records_that_timed_out_keep_only_their_own_lines_out_of_the_journal(tmp_path: Path) -> None:
    # The reported case: the broker stopped under a large file; the records in flight timed
    # out, and the rerun republished 13,096 lines Kafka had acknowledged, because the
    # journal recorded whole stretches. Scaled down: 30 lines, a checkpoint every 10.
    events = [sample_event("CaseClosed", child=n) for n in range(30)]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    failing = {5, 17, 18}  # lines whose records Kafka did not acknowledge
    first = _Publisher()
    first.refused = {events[n - 1]["event_id"]: _KafkaError() for n in failing}
    summary = _import(tmp_path, source, first, _Letters(), checkpoint_lines=10)
    assert (summary.published, summary.undelivered, summary.exit_code) == (27, 3, ExitCode.UNDELIVERED)
    assert summary.delivery_errors[0] == f"{source}:5: Local: Message timed out"

    retry = _Publisher()
    again = _import(tmp_path, source, retry, _Letters(), checkpoint_lines=10)
    assert retry.acknowledged == [events[n - 1]["event_id"] for n in sorted(failing)]
    assert (again.published, again.skipped, again.exit_code) == (3, 27, ExitCode.OK)
    journal = ImportJournal(tmp_path / "journal", source, "lifecycle")
    assert all(journal.is_done(n) for n in range(1, 31))


def test_a_dead_letter_kafka_did_not_take_is_sent_again_and_nothing_else(tmp_path: Path) -> None:
    events = [sample_event("CaseClosed", child=n) for n in range(4)]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events[:2]) + "{not json\n"
                      + "".join(json.dumps(e) + "\n" for e in events[2:]))

    class RefusingLetters(_Letters):
        def flush(self, timeout_s: float = 120.0) -> list[str]:
            for on_delivery in self._queued:
                on_delivery(_KafkaError(), None)
            self._queued = []
            return []

    summary = _import(tmp_path, source, _Publisher(), RefusingLetters())
    assert (summary.published, summary.undelivered, dict(summary.rejected)) == (4, 1, {})
    retry, letters = _Publisher(), _Letters()
    again = _import(tmp_path, source, retry, letters)
    assert (retry.acknowledged, [x["line"] for x in letters.sent]) == ([], [3])
    assert (again.skipped, dict(again.rejected), again.exit_code) == (4, {"malformed_json": 1}, ExitCode.REJECTED)


def test_the_journal_finds_lines_among_many_gaps(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("x\n" * 10)
    journal = ImportJournal(tmp_path / "j", source, "topic")
    journal.mark_done([n for n in range(1, 100_001) if n % 3])  # a gap every third line
    journal.save()
    again = ImportJournal(tmp_path / "j", source, "topic")
    assert [again.is_done(n) for n in (1, 2, 3, 4, 99_999, 100_000, 100_001)] == \
           [True, True, False, True, False, True, False]
    assert again.done_count == 66_667


def test_acknowledgements_find_each_record_s_line_by_its_value() -> None:
    acks = Acknowledgements()
    for line, value in ((1, b"a"), (2, b"b"), (3, b"a"), (4, b"a")):  # lines 3 and 4 repeat line 1
        acks.sent(value, line)
    for value, error in ((b"a", None), (b"b", _KafkaError()), (b"a", None), (b"zz", None)):
        acks.on_delivery(error, _Message(value))
    lines, letters, failed = acks.take()
    assert (lines, letters, [(f.line, f.reason) for f in failed]) == ([1, 3], 0, [(2, "Local: Message timed out")])
    assert acks.forget() == 1  # line 4 never answered: it stays out, even if answered later
    acks.on_delivery(None, _Message(b"a"))
    assert acks.take() == ([], 0, [])


def test_a_dead_letter_answered_after_its_file_was_given_up_is_not_the_next_file_s() -> None:
    acks = Acknowledgements()
    late = acks.for_letter(7, "malformed_json")
    acks.forget()  # the first file's last flush gave up; the next file begins
    late(None, None)
    acks.for_letter(3, "bad_enum")(None, None)
    assert acks.take() == ([3], 1, [])
