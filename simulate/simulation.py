"""A run: children in encounter order, through the feed, out in arrival order.

The run walks the encounter months in order. Each child's delivered copies (children.py)
go to the arrival month of their recorded_at (spill.py). Once a month's children are all
made, no later child can deliver anything recorded before that month ended, so every
arrival month up to it is complete: it is sorted and emitted. Memory holds one month of
arrivals plus small buffers; the rest waits on disk in a temporary directory, removed at
the end or when the consumer stops early.

With several workers (workers.py) the children of each month are shared out between
processes and the parent only sorts and emits; each child's output depends on nothing
but the config and its serial, so the bytes are the same for any number of workers.
"""

from __future__ import annotations

import gc
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ucwatch.core.errors import UcwatchError
from ucwatch.simulate import calibration as cal
from ucwatch.simulate.children import ChildFactory, stream_seed
from ucwatch.simulate.clock import fiscal_months, month_start_ms, next_month, to_ms
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.events import KEYS
from ucwatch.simulate.feed import ROW_AT
from ucwatch.simulate.sampling import apportion
from ucwatch.simulate.spill import ArrivalBuckets, Item, load_month
from ucwatch.simulate.truth import GroundTruth
from ucwatch.simulate.workers import Task, WorkerPool

# Below this many children the start-up of worker processes costs more than it saves.
PARALLEL_FROM_CHILDREN = 10_000
MAX_AUTO_WORKERS = 8


class SimulationNotFinished(UcwatchError):
    """The ground truth is asked for before the events were all generated."""


MonthPlan = tuple[int, tuple[int, int], int]  # (fiscal year, (year, month), children)


def encounter_plan(config: SimulationConfig) -> list[MonthPlan]:
    """Children per encounter month: the calibrated volumes, or scaled to config.children."""
    months = [(fy, ym, volume)
              for fy in range(config.start_fy, config.end_fy + 1)
              for ym, volume in zip(fiscal_months(fy), cal.MONTHLY_REFERRALS[fy], strict=True)]
    if config.children is None:
        return months
    counts = apportion(config.children, [volume for _, _, volume in months])
    return [(fy, ym, count) for (fy, ym, _), count in zip(months, counts, strict=True)]


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._truth: GroundTruth | None = None
        self._delivered_truth: GroundTruth | None = None
        self.children_generated = 0

    @property
    def truth(self) -> GroundTruth:
        """What really happened (each child's full history up to as_of), by FY of encounter."""
        if self._truth is None:
            raise SimulationNotFinished("the ground truth is complete only once events() is exhausted")
        return self._truth

    @property
    def delivered_truth(self) -> GroundTruth:
        """The same figures over only the delivered events (recorded before as_of): what any
        observer of the feed can count by as_of. A child whose ChildEncountered was not
        delivered has no fiscal year on record and is not counted."""
        if self._delivered_truth is None:
            raise SimulationNotFinished("the ground truth is complete only once events() is exhausted")
        return self._delivered_truth

    @property
    def workers(self) -> int:
        if self.config.workers is not None:
            return self.config.workers
        total = sum(count for _, _, count in encounter_plan(self.config))
        return 1 if total < PARALLEL_FROM_CHILDREN else min(os.cpu_count() or 1, MAX_AUTO_WORKERS)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.events()

    def run(self) -> GroundTruth:
        """Generates everything without keeping the events; returns the truth."""
        for _ in self.events():
            pass
        return self.truth

    def events(self) -> Iterator[dict[str, Any]]:
        """Every delivered event, in arrival order, as a dict in the JSON Lines format."""
        self._truth = self._delivered_truth = None
        as_of = to_ms(self.config.effective_as_of)
        month_starts = []
        year, month = self.config.start_fy - 1, 10
        while (start := month_start_ms(year, month)) < as_of:
            month_starts.append(start)
            year, month = next_month(year, month)
        plan = self._children_by_month(as_of)
        self.children_generated = sum(len(children) for *_, children in plan)
        with tempfile.TemporaryDirectory(prefix="ucwatch-simulate-") as directory:
            if self.workers == 1:
                yield from self._in_process(plan, month_starts, directory)
            else:
                yield from self._in_workers(plan, month_starts, directory)

    def _children_by_month(self, as_of: int) -> list[Task]:
        """(month index, fy, (year, month), [(serial, encounter ms)]) for months before as_of."""
        rng = random.Random(stream_seed(self.config.seed, "encounters"))
        plan: list[Task] = []
        serial = 0
        for index, (fy, (year, month), count) in enumerate(encounter_plan(self.config)):
            begin, end = month_start_ms(year, month), month_start_ms(*next_month(year, month))
            if begin >= as_of:
                break
            times = sorted(begin + rng.randrange(end - begin) for _ in range(count))
            children = [(serial + i, t0) for i, t0 in enumerate(times, start=1) if t0 < as_of]
            serial += count
            plan.append((index, fy, (year, month), children))
        return plan

    def _in_process(self, plan: list[Task], month_starts: list[int], directory: str) -> Iterator[dict[str, Any]]:
        factory = ChildFactory(self.config)
        buckets = ArrivalBuckets(month_starts, directory)
        emitted = 0
        for index, fy, month, children in plan:
            with _collector_paused():
                buckets.add(factory.make(children, fy, month))
            while emitted <= min(index, len(buckets) - 1):
                with _collector_paused():
                    items = buckets.take(emitted)
                yield from _as_dicts(items)
                emitted += 1
        while emitted < len(buckets):
            with _collector_paused():
                items = buckets.take(emitted)
            yield from _as_dicts(items)
            emitted += 1
        self._truth, self._delivered_truth = factory.truth, factory.delivered_truth

    def _in_workers(self, plan: list[Task], month_starts: list[int], directory: str) -> Iterator[dict[str, Any]]:
        pool = WorkerPool(self.config, self.workers, month_starts, directory)
        try:
            emitted = 0
            for index in pool.run(plan):
                while emitted <= min(index, len(month_starts) - 1):
                    yield from _as_dicts(_load_sorted(directory, pool.names, emitted))
                    emitted += 1
            while emitted < len(month_starts):
                yield from _as_dicts(_load_sorted(directory, pool.names, emitted))
                emitted += 1
            as_of = to_ms(self.config.effective_as_of)
            self._truth = pool.truth or GroundTruth(as_of)
            self._delivered_truth = pool.delivered_truth or GroundTruth(as_of)
        finally:
            pool.close()


def simulate(config: SimulationConfig) -> Iterator[dict[str, Any]]:
    """The events of a run in arrival order (use `Simulation` to get the truth too)."""
    return Simulation(config).events()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic GC over a stretch that only allocates acyclic tuples.

    Loading, sorting and making hundreds of thousands of tuples otherwise triggers
    repeated full collections that scan them all. Never held across a `yield`, so the
    consumer's code always runs with the collector as it left it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_sorted(directory: str, names: list[str], index: int) -> list[Item]:
    with _collector_paused():
        items = load_month(directory, names, index)
        items.sort()
    return items


def _as_dicts(items: list[Item]) -> Iterator[dict[str, Any]]:
    keys = KEYS
    for item in items:
        yield dict(zip(keys[item[ROW_AT + 1]], item[ROW_AT:], strict=True))
