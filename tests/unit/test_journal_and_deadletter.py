"""The import journal never leads Kafka; dead letters keep the input but not secrets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ucwatch.core import deadletter
from ucwatch.producers.journal import ImportJournal


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
