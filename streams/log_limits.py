"""One log line per condition: the Kafka client libraries' repeats summarized.

During a 30 s broker outage a worker wrote about 2,700 ERROR lines (aiokafka: "Unable
connect to node", "Unable to update metadata", "Failed fetch messages", "Group Coordinator
Request failed", each several times a second), and the ~7,800 of issue 9's longer outage
hid everything else. `OncePerCondition`, a filter on the log handlers, lets the first
record of each condition through, holds back the same condition's repeats for `every_s`,
and lets the next one through with the count of those held back. A condition is the
logger plus the message template with its numbers blanked, so "node 1" and "node 2"
count as one. librdkafka (the worker's output producer) logs through `ucwatch.librdkafka`.
Only the libraries' records at WARNING and above are limited; ucwatch's own lines and
everything below WARNING pass untouched.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

LIBRARIES = ("aiokafka", "faust", "mode", "kafka", "ucwatch.librdkafka")
EVERY_S = 30.0
_VARIABLE = re.compile(r"\d+")


class OncePerCondition(logging.Filter):
    def __init__(self, *, libraries: tuple[str, ...] = LIBRARIES, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._libraries = libraries
        self._every_s = every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._conditions: dict[tuple[str, str], list[float]] = {}
        """condition -> [when the last line of it was let through, how many held back since]"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not self._limits(record.name):
            return True
        key = (record.name, _VARIABLE.sub("#", str(record.msg)))
        now = self._clock()
        with self._lock:
            seen = self._conditions.get(key)
            if seen is not None and now - seen[0] < self._every_s:
                seen[1] += 1
                return False
            self._conditions[key] = [now, 0]
        if seen is not None and seen[1]:
            record.msg = f"{record.getMessage()} [and {int(seen[1])} more like it in the last {now - seen[0]:.0f} s]"
            record.args = ()
        return True

    def _limits(self, name: str) -> bool:
        return any(name == library or name.startswith(library + ".") for library in self._libraries)


def limit_library_logs(every_s: float = EVERY_S) -> OncePerCondition:
    """Adds the filter to every handler of the root logger; returns it."""
    limiter = OncePerCondition(every_s=every_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(limiter)
    return limiter
