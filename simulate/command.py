"""`ucwatch simulate`: generate a history once, write it as JSON Lines and/or publish it."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ucwatch.core.errors import InputFileError
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.producers.sdk import EventProducer
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.simulation import Simulation
from ucwatch.simulate.writer import write_jsonl


def simulate_command(settings: Settings, *, children: int | None, seed: int, out: Path | None,
                     publish: bool, truth: Path | None) -> int:
    """Generates a history once, writing it as JSON Lines and/or publishing it."""
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
