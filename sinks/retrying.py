"""The sink's one retry policy, over `ucwatch.core.retry`: while ClickHouse cannot be
reached, call again with exponential back-off (ceiling `sink.retry_max_s`) until it works
or the sink is told to stop; one log line when the outage begins and one when it ends.

A stop while waiting raises `RetryExhausted` (the caller stops without committing what
was not written); any other failure is raised at once, unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from ucwatch.core.retry import Backoff, RetryExhausted, retry
from ucwatch.sinks.conditions import Condition
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable

T = TypeVar("T")

FIRST_DELAY_S = 0.5


def while_unavailable(call: Callable[[], T], *, stop: threading.Event, max_delay_s: float,
                      condition: Condition, consequence: str = "") -> T:
    def report(attempt: int, failure: BaseException, delay: float) -> None:
        condition.failing(str(failure), consequence)

    result = retry(call, retry_on=lambda exc: isinstance(exc, ClickHouseUnavailable),
                   backoff=Backoff(first_s=FIRST_DELAY_S, max_s=max(max_delay_s, FIRST_DELAY_S)),
                   stop=stop, on_retry=report)
    condition.cleared()
    return result


def waited_for(stopped: RetryExhausted) -> str:
    """What a wait that was stopped waited for, for its one log line."""
    return "ClickHouse" if isinstance(stopped.last, ClickHouseError) else "Kafka"
