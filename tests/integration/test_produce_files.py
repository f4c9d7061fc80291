"""`ucwatch produce` on the real broker: every bad line dead-lettered with its reason, every
good line published once, nothing repeated on a retry, a clear failure when Kafka is down."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import settings_env
from tests.helpers import DROP, read_topic, sample_event
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder

pytestmark = pytest.mark.kafka


def _line(**overrides) -> str:
    event_type = overrides.pop("event_type", "WellbeingCallAttempted")
    return json.dumps(sample_event(event_type, **overrides))


# A dozen kinds of bad line, each with the reason code it must be dead-lettered with.
BAD_LINES = [
    ('{"event_type": "CaseClosed", "child_id": ', "malformed_json"),
    (_line(event_type="CaseClosed", outcome="ABSCONDED"), "bad_enum"),
    (_line(event_type="CaseClosed").replace("CaseClosed", "ChildTeleported"), "unknown_event_type"),
    (_line(outcome=DROP), "missing_field"),
    (_line(attempt="three"), "wrong_type"),
    (_line(occurred_at="01/03/2021 12:00"), "bad_timestamp"),
    (_line(occurred_at="2021-03-01T12:00:00"), "timestamp_without_timezone"),
    (_line(occurred_at="2099-01-01T00:00:00Z", recorded_at="2099-01-01T00:00:00Z"), "future_timestamp"),
    (json.dumps({**sample_event("CaseClosed"), "padding": "x" * 20_000}), "oversize"),
    (_line(child_id="A-012-345-678"), "raw_identifier"),
    (_line(sponsor_name="Maria Lopez", event_type="CaseClosed"), "unknown_field"),
    ("[1, 2, 3]", "not_an_object"),
    (_line(event_id="1234"), "bad_uuid"),
]


def _produce(settings: Settings, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "produce", "--json", *map(str, files)],
                          env=settings_env(settings), capture_output=True, text=True, timeout=180)


def test_bad_lines_are_dead_lettered_and_good_lines_published_once(settings: Settings, tmp_path: Path) -> None:
    good = [sample_event("WellbeingCallAttempted", child=n % 7, attempt=1 + n // 7) for n in range(40)]
    lines = [json.dumps(e) for e in good[:20]] + [text for text, _ in BAD_LINES] + \
            [""] + [json.dumps(e) for e in good[20:]]
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join(lines) + "\n")
    bad_line_numbers = {21 + i: code for i, (_, code) in enumerate(BAD_LINES)}

    result = _produce(settings, source)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["published"] == 40
    assert summary["rejected"] == len(BAD_LINES)
    assert summary["read"] == 40 + len(BAD_LINES)

    letters = [json.loads(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.deadletter.name)]
    assert {letter["line"]: letter["reason_code"] for letter in letters} == bad_line_numbers
    assert all(letter["origin"] == str(source) and letter["reason"] for letter in letters)
    by_code = {letter["reason_code"]: letter for letter in letters}
    # nothing sensitive rides along with a rejection
    assert "sponsor_name" in by_code["unknown_field"]["withheld_fields"]
    assert "012-345-678" not in json.dumps(by_code["raw_identifier"])
    assert by_code["oversize"]["raw_bytes"] > 20_000

    decoder = Decoder(EmbeddedRegistry(default_catalog()))
    published = read_topic(settings.kafka.bootstrap, settings.topics.lifecycle.name)
    assert sorted(decoder.decode(r.value)["event_id"] for r in published) == sorted(e["event_id"] for e in good)

    retry = _produce(settings, source)
    assert json.loads(retry.stdout)["published"] == 0
    assert json.loads(retry.stdout)["skipped_already_done"] == 40 + len(BAD_LINES)
    assert len(read_topic(settings.kafka.bootstrap, settings.topics.lifecycle.name)) == 40
    assert len(read_topic(settings.kafka.bootstrap, settings.topics.deadletter.name)) == len(BAD_LINES)


def test_csv_export_with_mixed_types(settings: Settings, tmp_path: Path) -> None:
    events = [sample_event("WellbeingCallAttempted"), sample_event("CaseClosed"),
              sample_event("HearingScheduled")]
    header = sorted({name for event in events for name in event})
    source = tmp_path / "export.csv"
    with source.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        for event in events:
            writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in event.items()})
        fh.write('"unterminated,quote\n')
    result = _produce(settings, source)
    summary = json.loads(result.stdout)
    assert summary["published"] == 3, result.stdout + result.stderr
    assert summary["rejected_by_reason"] == {"malformed_csv": 1}


def test_broker_down_at_start_fails_clearly_and_publishes_nothing(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(_line() + "\n")
    env = settings_env(settings) | {"UCWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9", "UCWATCH_KAFKA_CONNECT_TIMEOUT_S": "3"}
    result = subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "produce", str(source)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "did not answer" in result.stderr and "nothing was published" in result.stderr
    assert not (settings.data_dir / "import-journal").exists()
