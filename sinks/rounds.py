"""Step 2 of the sink's order on a thread of its own: a round of batch writes runs while the
consumer's thread goes on consuming and decoding (chDB and the network release the GIL).

One round at a time, and its batches one after another, so each partition's ledger entry
follows the insert of its previous batch (sinks/replay.py relies on it). The thread is a
daemon: a write that hangs (a server that stopped answering) cannot keep the process from
stopping, and since nothing after it was committed, the ledger replays it on restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.writer import Refused

Write = Callable[[Batch], list[Refused]]


class Round:
    def __init__(self, batches: list[Batch], write: Write) -> None:
        self.batches = batches
        self._write = write
        self._done = threading.Event()
        self._refused: list[tuple[Batch, Refused]] = []
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="ucwatch-sink-writer", daemon=True).start()

    def wait(self, timeout_s: float | None) -> bool:
        """True once every batch is written (or the round failed)."""
        return self._done.wait(timeout_s)

    def result(self) -> list[tuple[Batch, Refused]]:
        """The rows ClickHouse refused, by batch; raises what stopped the round."""
        if not self._done.is_set():
            raise RuntimeError("the round is still being written")
        if self._error is not None:
            raise self._error
        return self._refused

    def _run(self) -> None:
        try:
            for batch in self.batches:
                self._refused.extend((batch, refused) for refused in self._write(batch))
        except BaseException as exc:  # handed to the consumer's thread by result()
            self._error = exc
        finally:
            self._done.set()
