"""`ucwatch simulate`: generate a history once, write it as JSON Lines and/or publish it.

Where the history and its truth go is checked before anything is generated, so that a bad
path fails at once rather than after a ten-minute full-scale run. Progress (events and
events per second) goes to stderr, so that `--out -` keeps stdout for the events.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

from ucwatch.core.errors import UsageError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.progress_bar import ProgressBar
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.simulation import Simulation
from ucwatch.simulate.writer import write_jsonl

PROGRESS_EVERY = 10_000
"""Events between two progress updates (an update per event would slow the run)."""


def simulate_command(settings: Settings, *, children: int | None, seed: int, out: Path | None,
                     publish: bool, truth: Path | None, progress: bool = True) -> ExitCode:
    """Generates a history once, writing it as JSON Lines and/or publishing it; `children`
    None is the full FY2019-2023 volume."""
    if out is None and not publish:
        raise UsageError("say where the history goes: --out FILE, --publish, or both")
    if truth is not None:
        _check_writable(truth)
    with ExitStack() as stack:
        target: BinaryIO | None = None
        if out is not None:
            target = sys.stdout.buffer if str(out) == "-" else stack.enter_context(_open_for_writing(out))
        simulation = Simulation(SimulationConfig(seed=seed, children=children))
        events: Iterable[dict[str, Any]] = simulation.events()
        published_by_type: Counter[str] = Counter()
        producer: EventProducer | None = None
        if publish:
            admin = wait_for_kafka(settings, before="publishing anything")
            ensure_topics(admin, settings, [settings.topics.lifecycle, settings.topics.deadletter])
            producer = EventProducer(settings)
            events = _publishing(events, producer, published_by_type)
        with ProgressBar("simulating", unit="events", enabled=progress) as bar:
            counted = _counted(events, bar)
            written = write_jsonl(counted, target) if target is not None else sum(1 for _ in counted)
        if target is not None:
            print(f"wrote {written:,} events to {out}", file=sys.stderr)
        if producer is not None:
            producer.flush()
            for event_type, count in sorted(published_by_type.items()):
                print(f"published {event_type:<28}{count:>10,}", file=sys.stderr)
    if truth is not None:
        truth.write_text(json.dumps(simulation.truth.as_dict(), indent=2))
    return ExitCode.OK


def _check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied")


def _open_for_writing(path: Path) -> BinaryIO:
    try:
        return path.open("wb")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def _counted(events: Iterable[dict[str, Any]], bar: ProgressBar) -> Iterator[dict[str, Any]]:
    count = 0
    for event in events:
        yield event
        count += 1
        if count % PROGRESS_EVERY == 0:
            bar.update(count)
    bar.update(count)


def _publishing(events: Iterable[dict[str, Any]], producer: EventProducer,
                counts: Counter[str]) -> Iterator[dict[str, Any]]:
    for event in events:
        producer.publish(event)
        counts[event["event_type"]] += 1
        yield event
