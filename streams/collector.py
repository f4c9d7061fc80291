"""A worker's cyclic garbage collection: on a timer, not on allocation counts.

Why: a worker's objects are rarely cyclic, yet the collector, run on allocation counts,
traversed every object that outlived a batch, and in its full collections every object the
worker holds (the states, in a memory store). On the 296k-record replay (bench/detect_bench.py),
traced with `gc.callbacks`: 38 young collections that found nothing, 3.4 s, and one full
collection that found 47 objects, 2.2 s: 6% of the worker's 88.5 s of CPU. With the collector
off, one worker used 281-296 µs of CPU per record against 296-330 µs with it (three pairs).
A full collection's cost grows with the heap, so a national replay's heap pays it more often
and dearer.

So automatic collection is off in the worker, and a thread collects every `every_s`: a cycle
is kept at most that long. What survives a collection is frozen (`gc.freeze`), so the next
one looks only at objects made since, not again at every state; every `thaw_every`-th
collection looks at everything again, so a cycle among frozen objects is kept no longer than
`every_s * thaw_every`. Freezing does not keep anything alive: an object no longer referenced
is freed at once as always; only cycles wait for a collection.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)
EVERY_S = 300.0
THAW_EVERY = 12


class TimedCollector:
    def __init__(self, every_s: float = EVERY_S, thaw_every: int = THAW_EVERY) -> None:
        self._every_s = every_s
        self._thaw_every = thaw_every
        self._runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Turns automatic collection off and collects every `every_s` on a thread of its own."""
        gc.disable()
        self._thread = threading.Thread(target=self._run, name="ucwatch-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread and gives the collector back its automatic collections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        gc.unfreeze()
        gc.enable()

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

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.collect_once()
