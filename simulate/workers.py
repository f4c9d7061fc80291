"""Worker processes that make children while the parent emits finished months.

Protocol, per worker (one task queue each, one shared report queue):

1. the parent sends ``(month_index, fy, (year, month), children)``: that worker's share
   of the month's children, possibly none, for every encounter month in order;
2. the worker makes them, spills their items to its own files, seals the month (writes
   what it holds of it) and reports ``("sealed", worker, month_index)``;
3. after the last month the parent sends None; the worker seals everything and reports
   ``("done", worker, (truth, delivered_truth))``. A failure is reported as ``("failed", worker, traceback)``.

The parent emits a month once every worker has sealed it. It keeps workers at most
LOOKAHEAD months ahead of emission, so spill files stay small. The parent terminates them
if the consumer stops early or anything fails.

Workers are forked where the platform can: "spawn" would re-run the caller's __main__ in
each worker, which fails for any script without an ``if __name__ == "__main__"`` guard.
A forked worker runs only simulator code (no inherited client, lock or thread is used).
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import traceback
from collections.abc import Iterator
from typing import Any

from ucwatch.core.errors import UcwatchError
from ucwatch.simulate.children import Child, ChildFactory
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.spill import ArrivalBuckets
from ucwatch.simulate.truth import GroundTruth

LOOKAHEAD = 3
_POLL_S = 1.0

Task = tuple[int, int, tuple[int, int], list[Child]]


class WorkerFailed(UcwatchError):
    pass


def worker_name(index: int) -> str:
    return f"worker{index}"


def _work(config: SimulationConfig, index: int, month_starts: list[int], directory: str, *,
          tasks: Any, reports: Any) -> None:
    # Histories hold no reference cycles; without the collector's periodic scans of
    # the pending items a worker runs markedly faster.
    gc.disable()
    try:
        factory = ChildFactory(config)
        buckets = ArrivalBuckets(month_starts, directory, worker_name(index))
        while (task := tasks.get()) is not None:
            month_index, fy, month, children = task
            buckets.add(factory.make(children, fy, month))
            buckets.seal(month_index)
            reports.put(("sealed", index, month_index))
        buckets.seal(len(buckets) - 1)
        reports.put(("done", index, (factory.truth, factory.delivered_truth)))
    except BaseException:  # reported to the parent, which raises it
        reports.put(("failed", index, traceback.format_exc()))


class WorkerPool:
    """Workers for one run; iterate `run(plan)` to learn which months are complete."""

    def __init__(self, config: SimulationConfig, workers: int, month_starts: list[int],
                 directory: str) -> None:
        context = (multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods()
                   else multiprocessing.get_context("spawn"))
        self._reports = context.Queue()
        self._tasks = [context.Queue() for _ in range(workers)]
        self._processes = [
            context.Process(target=_work, name=f"ucwatch-simulate-{i}", daemon=True,
                            args=(config, i, month_starts, directory),
                            kwargs={"tasks": self._tasks[i], "reports": self._reports})
            for i in range(workers)]
        for process in self._processes:
            process.start()
        self.truth: GroundTruth | None = None
        self.delivered_truth: GroundTruth | None = None

    @property
    def names(self) -> list[str]:
        return [worker_name(i) for i in range(len(self._processes))]

    def run(self, plan: list[tuple[int, int, tuple[int, int], list[Child]]]) -> Iterator[int]:
        """Hands out the plan; yields each month index once every worker has sealed it."""
        workers = len(self._processes)
        sealed: dict[int, int] = {}
        sent = emitted = done = 0
        finished = False
        while done < workers:
            while sent < len(plan) and sent <= emitted + LOOKAHEAD:
                month_index, fy, month, children = plan[sent]
                for i, share in enumerate(_split(children, workers)):
                    self._tasks[i].put((month_index, fy, month, share))
                sent += 1
            if sent == len(plan) and not finished:
                for task_queue in self._tasks:
                    task_queue.put(None)
                finished = True
            kind, index, payload = self._next_report()
            if kind == "failed":
                raise WorkerFailed(f"simulation worker {index} failed:\n{payload}")
            if kind == "sealed":
                sealed[payload] = sealed.get(payload, 0) + 1
                while sealed.get(emitted) == workers:
                    yield plan[emitted][0]
                    emitted += 1
            else:
                done += 1
                truth, delivered_truth = payload
                if self.truth is None or self.delivered_truth is None:
                    self.truth = GroundTruth(truth.as_of_ms)
                    self.delivered_truth = GroundTruth(delivered_truth.as_of_ms)
                self.truth.merge(truth)
                self.delivered_truth.merge(delivered_truth)
        for process in self._processes:
            process.join()

    def _next_report(self) -> tuple[str, int, Any]:
        while True:
            try:
                report: tuple[str, int, Any] = self._reports.get(timeout=_POLL_S)
                return report
            except queue.Empty:
                dead = [p for p in self._processes if p.exitcode not in (None, 0)]
                if dead:
                    raise WorkerFailed(f"simulation worker {dead[0].name} exited with code "
                                       f"{dead[0].exitcode} without reporting") from None

    def close(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for q in [self._reports, *self._tasks]:
            # a terminated worker never drains its pipe: waiting to flush it would hang
            q.cancel_join_thread()
            q.close()


def _split(children: list[Child], parts: int) -> list[list[Child]]:
    size = len(children)
    return [children[size * i // parts: size * (i + 1) // parts] for i in range(parts)]
