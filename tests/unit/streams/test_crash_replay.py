"""A worker killed while it writes a batch's states, then replaying from its last committed
offset, gives the records of a clean run (same ids, same contents) and ends with the same
states: for every number of the batch's writes Kafka had acknowledged (in the order sent,
and the other way round), in every fourth batch of a simulated history.

The processors, `write_states` and the engine are the real ones; Kafka is a dict per
side: the changelog (what a memory store, or a worker taking the partition over,
restores) and the local store (what a RocksDB worker restarted on the same folder reads).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.streams.detect_support import TIMESTAMPS, ms
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.streams.durable import write_states
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import PartitionProcessor
from ucwatch.streams.state_codec import dumps_row, loads_row

ENGINE = Engine(default_policy())
CHILDREN, SEED = 60, 5
BATCH = 40               # records per batch
TICK_EVERY = 25          # a clock tick after this many events, half a day past the latest recorded_at
HALF_DAY_MS = 12 * 3600 * 1000

Record = tuple[str, Any]  # ("event", engine-form event) or ("tick", ms)


def partition_log() -> list[Record]:
    """A simulated history on one partition, in arrival order, with ticks between."""
    records: list[Record] = []
    latest = 0
    for n, event in enumerate(Simulation(SimulationConfig(seed=SEED, children=CHILDREN)).events(), 1):
        for name in TIMESTAMPS:
            if isinstance(event.get(name), str):
                event[name] = ms(event[name])
        records.append(("event", event))
        latest = max(latest, event["recorded_at"])
        if n % TICK_EVERY == 0:
            records.append(("tick", latest + HALF_DAY_MS))
    return records


LOG = partition_log()
BATCHES = [LOG[i:i + BATCH] for i in range(0, len(LOG), BATCH)]


def serialized(rows: Mapping[str, Any]) -> dict[str, Any]:
    """Rows as the children table's serializer writes and reads them back (streams/state_codec.py)."""
    return {key: loads_row(dumps_row(value)) for key, value in rows.items()}


class Killed(BaseException):
    """The worker died: Kafka acknowledged the writes sent so far, nothing after."""


@dataclass
class Kafka:
    """The changelog (latest value per key) and the output topics (every record)."""

    changelog: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Table:
    """`write_states`' table over `kafka`: a changelog record is acknowledged while the
    budget lasts (None: always), then the worker is killed; `local` follows as told. Within
    one step Kafka may take the records in any order (`reversed`: the last sent first)."""

    def __init__(self, kafka: Kafka, local: dict[str, Any], budget: int | None = None,
                 reverse: bool = False) -> None:
        self.kafka, self.local, self.budget, self.reverse = kafka, local, budget, reverse
        self.sent = 0

    def send(self, writes: Mapping[str, Any], event: Any) -> None:
        for key, value in reversed(writes.items()) if self.reverse else writes.items():
            if self.budget is not None and self.sent >= self.budget:
                raise Killed
            self.kafka.changelog[key] = loads_row(dumps_row(value))  # as the table's serializer
            self.sent += 1

    async def confirm(self, what: str, timeout_s: float) -> None:
        pass  # acknowledged as sent

    def store_locally(self, writes: Mapping[str, Any], event: Any) -> None:
        self.local.update(serialized(writes))


class Worker:
    """A worker's processor on partition 0 over a local store, writing batches as the glue does."""

    def __init__(self, kafka: Kafka, local: dict[str, Any]) -> None:
        self.kafka, self.local = kafka, local
        self.processor = PartitionProcessor(ENGINE, local, 0)

    def handle(self, batch: list[Record], budget: int | None = None, reverse: bool = False) -> int:
        """Handles and writes `batch`; how many changelog records its writes took."""
        for kind, record in batch:
            out = self.processor.on_tick(record) if kind == "tick" else self.processor.on_event(record)
            self.kafka.outputs += [("alert", r) for _, r in out.alerts]
            self.kafka.outputs += [("notification", r) for _, r in out.notifications]
        table = Table(self.kafka, self.local, budget, reverse)
        # outputs are confirmed before any state is written (app.py, step 1): they are on Kafka
        asyncio.run(write_states(table, [(self.processor.drain_writes(), None)], timeout_s=1.0))
        return table.sent


def by_id(outputs: list[tuple[str, dict[str, Any]]]) -> dict[tuple[Any, ...], set[str]]:
    found: dict[tuple[Any, ...], set[str]] = {}
    for kind, record in outputs:
        key = (kind, record["alert_id"], record["sequence"]) if kind == "alert" else (kind, record["notification_id"])
        found.setdefault(key, set()).add(json.dumps(record, sort_keys=True))
    return found


@dataclass
class Clean:
    """A clean run just after one batch: what is on Kafka, and the states (changelog and
    local store agree)."""

    outputs: list[tuple[str, dict[str, Any]]]
    store: dict[str, Any]
    writes: int                                 # changelog records of the batch's writes


def clean_runs() -> list[Clean]:
    kafka, local = Kafka(), {}
    worker = Worker(kafka, local)
    runs = [Clean([], {}, 0)]
    for batch in BATCHES:
        writes = worker.handle(batch)
        runs.append(Clean(list(kafka.outputs), serialized(local), writes))
    return runs


CLEAN = clean_runs()
"""CLEAN[n]: after the first n batches."""


def test_the_history_exercises_what_a_replay_can_get_wrong() -> None:
    alerts = [record for kind, record in CLEAN[-1].outputs if kind == "alert"]
    assert {"OPENED", "RETRACTED", "RESOLVED"} <= {record["change"] for record in alerts}
    assert all(run.writes > 1 for run in CLEAN[1:]), "every batch writes states and a clock"
    assert all(len(contents) == 1 for contents in by_id(CLEAN[-1].outputs).values())


def replay_after_kill(crashed: int, acknowledged: int, restart_from: str,
                      reverse: bool) -> tuple[Kafka, dict[str, Any]]:
    """Batches before `crashed` written and committed; `crashed` handled, its outputs on
    Kafka, `acknowledged` of its changelog records on Kafka, then the worker killed. A new
    worker restores (`restart_from` the changelog, or the local store that survived), and
    handles `crashed` again and the batch after it."""
    before = CLEAN[crashed]
    kafka = Kafka(serialized(before.store), list(before.outputs))
    local = serialized(before.store)
    with pytest.raises(Killed):
        Worker(kafka, local).handle(BATCHES[crashed], budget=acknowledged, reverse=reverse)
    restored = dict(kafka.changelog) if restart_from == "changelog" else local
    restarted = Worker(kafka, restored)
    for batch in BATCHES[crashed:crashed + 2]:
        restarted.handle(batch)
    return kafka, restored


@pytest.mark.parametrize("order", ["as sent", "reversed"])
@pytest.mark.parametrize("restart_from", ["changelog", "local store"])
@pytest.mark.parametrize("crashed", range(0, len(BATCHES) - 1, 4))
def test_a_kill_after_any_number_of_a_batchs_writes_replays_to_the_clean_runs_records(crashed: int,
                                                                                     restart_from: str,
                                                                                     order: str) -> None:
    clean = CLEAN[crashed + 2]
    want = by_id(clean.outputs)
    problems = []
    for acknowledged in range(CLEAN[crashed + 1].writes):
        kafka, restored = replay_after_kill(crashed, acknowledged, restart_from, order == "reversed")
        found = by_id(kafka.outputs)
        twice = {k: v for k, v in found.items() if len(v) > 1}
        if twice:
            problems.append(f"{acknowledged} acknowledged: {len(twice)} id(s) with two contents, "
                            f"e.g. {next(iter(twice.items()))}")
        if found.keys() != want.keys():
            problems.append(f"{acknowledged} acknowledged: ids missing {sorted(want.keys() - found.keys())[:2]}, "
                            f"extra {sorted(found.keys() - want.keys())[:2]}")
        if kafka.changelog != clean.store:
            wrong = sorted(k for k in clean.store if kafka.changelog.get(k) != clean.store[k])
            problems.append(f"{acknowledged} acknowledged: the changelog differs from the clean run's states "
                            f"at {wrong[:3]}")
        if restored != clean.store:
            problems.append(f"{acknowledged} acknowledged: the restarted worker's store differs from the clean "
                            "run's states")
    assert not problems, f"batch {crashed} of {len(BATCHES)}:\n" + "\n".join(problems)
