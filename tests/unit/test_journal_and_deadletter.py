"""The import journal never leads Kafka; dead letters keep the input but not secrets."""

from __future__ import annotations

import json
from pathlib import Path

from producers.deadletter import MAX_RAW_BYTES, DeadLetter
from producers.journal import ImportJournal


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


def test_dead_letter_redacts_fields_outside_the_contract() -> None:
    raw = {"event_type": "CaseClosed", "child_name": "Maria", "outcome": "OTHER"}
    letter = DeadLetter("unknown_field", "child_name not in contract", "f.jsonl", raw, json.dumps(raw),
                        line=3, allowed_fields={"event_type", "outcome"})
    document = json.loads(letter.to_json())
    assert document["raw"] == {"event_type": "CaseClosed", "child_name": "<redacted>", "outcome": "OTHER"}
    assert document["redacted_fields"] == ["child_name"]
    assert "Maria" not in letter.to_json().decode()
    assert document["line"] == 3 and document["raw_bytes"] == len(json.dumps(raw))


def test_dead_letter_cuts_huge_input_but_keeps_its_fingerprint() -> None:
    text = "x" * (MAX_RAW_BYTES + 10)
    document = json.loads(DeadLetter("oversize", "too big", "f.jsonl", text, text).to_json())
    assert document["raw_truncated"] and len(document["raw"]) == MAX_RAW_BYTES
    assert document["raw_bytes"] == MAX_RAW_BYTES + 10 and len(document["raw_sha256"]) == 64
