"""A batch is written whole or not at all: sends confirmed, state writes confirmed, and a
failure that leaves the worker before faust can ack or commit anything of the batch.

faust gives no error for a table write whose changelog record Kafka refuses: the write is
queued (`send_soon`), its failure only logged, and the next commit goes past it. So
`DurableTable` keeps the future of each changelog record it queues, and the glue awaits
them (`confirm`) before the batch ends. A failure anywhere in the batch's writes ends in
`abandon_batch`: log why, then `os._exit`, since faust acks a batch even when its body
raised, and a commit after that would skip records whose state was never written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Sequence
from typing import Any

import faust

from ucwatch.core.exit_codes import ExitCode

log = logging.getLogger(__name__)


class DurableTable(faust.Table[str, Any]):
    """A faust table that keeps the futures of the changelog records its writes queue."""

    logger = logging.getLogger("faust.tables.durable")  # its service chatter is faust's, not ucwatch's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unconfirmed: list[Awaitable[Any]] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self._unconfirmed.append(future)
        return future

    def take_unconfirmed(self) -> list[Awaitable[Any]]:
        """The changelog records queued since the last call, to be confirmed now."""
        taken, self._unconfirmed = self._unconfirmed, []
        return taken


async def confirm(sends: Sequence[Awaitable[Any]], what: str, timeout_s: float) -> None:
    """Waits until Kafka acknowledged every send; raises the first refusal, or TimeoutError."""
    if not sends:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*sends), timeout_s)
    except TimeoutError:
        raise TimeoutError(f"{len(sends)} {what} not acknowledged by Kafka within {timeout_s:.0f} s") from None


def abandon_batch(records: int, failure: BaseException, *, stopping: bool) -> None:
    """Leaves the process now, so that nothing of an unfinished batch is acked or committed."""
    if stopping and isinstance(failure, asyncio.CancelledError):
        log.warning("stopping in the middle of a batch of %d record(s); it was not committed and "
                    "will be handled again at the next start", records)
        code = ExitCode.OK
    else:
        log.critical("a batch of %d record(s) could not be written (%s: %s); the worker stops without "
                     "committing it and resumes from its last committed offset when restarted",
                     records, type(failure).__name__, failure, exc_info=failure)
        code = ExitCode.UNDELIVERED
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(code)
