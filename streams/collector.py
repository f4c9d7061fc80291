"""A worker's cyclic garbage collection: on a timer, not on allocation counts.

Why: a worker's objects are rarely cyclic, yet the collector, run on allocation counts,
traversed every object that outlived a batch, and in its full collections every object the
worker holds (the states, in a memory store). On the 296k-record replay (bench/detect_bench.py),
traced with `gc.callbacks`: 38 young collections that found nothing, 3.4 s, and one full
collection that found 47 objects, 2.2 s: 6% of the worker's 88.5 s of CPU. With the collector
off, one worker used 281-296 µs of CPU per record against 296-330 µs with it (three pairs).
A full collection's cost grows with the heap, so a national replay's heap pays it more often
and dearer.

So automatic collection is off, and the worker's event loop collects every `every_s`
(`run`, an app task): a cycle is kept at most that long. What survives a collection is
frozen (`gc.freeze`), so the next one looks only at objects made since, not again at every
state; every `thaw_every`-th collection looks at everything again, so a cycle among frozen
objects is kept no longer than `every_s * thaw_every`. Freezing does not keep anything
alive: an object no longer referenced is freed at once as always; only cycles wait for a
collection.

On the loop, not on a thread of its own: a collection runs the finalizers of what it
frees, and those of asyncio's and uvloop's objects (futures, handles, transports) belong
on the loop's thread; uvloop is not thread-safe. While the collections ran on a thread of
their own, a worker of a national replay died of a segfault (a call through a null
pointer); that the thread caused it is not shown.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)
EVERY_S = 300.0
THAW_EVERY = 12


class TimedCollector:
    def __init__(self, every_s: float = EVERY_S, thaw_every: int = THAW_EVERY) -> None:
        self.every_s = every_s
        self._thaw_every = thaw_every
        self._runs = 0

    def start(self) -> None:
        """Turns automatic collection off: from now on only `collect_once` collects."""
        gc.disable()

    def stop(self) -> None:
        """Gives the collector back its automatic collections."""
        gc.unfreeze()
        gc.enable()

    async def run(self) -> None:
        """Collects every `every_s` on the running event loop, until cancelled."""
        while True:
            await asyncio.sleep(self.every_s)
            self.collect_once()

    def collect_once(self) -> int:
        """One collection: of the objects made since the last one, or of all of them at every
        `thaw_every`-th; returns how many unreachable objects it found."""
        self._runs += 1
        if self._runs % self._thaw_every == 0:
            gc.unfreeze()
        started = time.perf_counter()
        found = gc.collect()
        gc.freeze()
        log.debug("garbage collection %d: %d unreachable object(s) in %.2f s", self._runs, found,
                  time.perf_counter() - started)
        return found
