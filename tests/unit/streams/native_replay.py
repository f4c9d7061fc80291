"""Prints which engine ran and a digest of everything detection produced on a simulated
history: the alert and notification records, each child-state snapshot, and every state
row as the table stores it. Run in a subprocess by test_native.py, once with the compiled
engine and once with UCWATCH_PURE_PYTHON=1, so each process imports one of the two.

    python -m tests.unit.streams.native_replay [CHILDREN]
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from tests.unit.streams.detect_support import TIMESTAMPS, ms
from ucwatch.core import native
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import Outputs, PartitionProcessor
from ucwatch.streams.state_codec import dumps_row, loads_row

SEED = 11
BATCH = 200
TICK_EVERY = 50
HALF_DAY_MS = 12 * 3600 * 1000


class RowStore:
    """The table as the worker's serializer leaves it: rows encoded, decoded when read."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        row = self.rows.get(key)
        return None if row is None else loads_row(row)

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = dumps_row(value)

    def items(self) -> list[tuple[str, Any]]:
        return [(key, loads_row(row)) for key, row in self.rows.items()]


def digest(children: int) -> tuple[str, int]:
    """(sha256 of every output and state row, how many alert changes there were)."""
    store = RowStore()
    processor = PartitionProcessor(Engine(default_policy()), store, 0)
    out = hashlib.sha256()
    alerts = 0
    latest = 0
    outputs = Outputs()
    for n, event in enumerate(Simulation(SimulationConfig(seed=SEED, children=children)).events(), 1):
        for name in TIMESTAMPS:
            if isinstance(event.get(name), str):
                event[name] = ms(event[name])
        outputs.extend(processor.on_event(event))
        latest = max(latest, event["recorded_at"])
        if n % TICK_EVERY == 0:
            outputs.extend(processor.on_tick(latest + HALF_DAY_MS))
        if n % BATCH == 0:
            alerts += _drain(processor, store, outputs, out)
            outputs = Outputs()
    alerts += _drain(processor, store, outputs, out)
    for key in sorted(store.rows):
        out.update(key.encode() + store.rows[key])
    return out.hexdigest(), alerts


def _drain(processor: PartitionProcessor, store: RowStore, outputs: Outputs, out: Any) -> int:
    for key, record in (*outputs.alerts, *outputs.notifications, *outputs.states):
        out.update(f"{key}|{sorted(record.items())!r}".encode())
    writes = processor.drain_writes()
    for key, value in (*writes.states.items(), *writes.clock.items()):
        store[key] = value
    return len(outputs.alerts)


if __name__ == "__main__":
    sha, alerts = digest(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
    print(native.status())
    print(f"{sha} {alerts}")
