"""The retry budget of one delivery: how many attempts, and how long to wait before each.

The waits come from `ucwatch.core.retry.Backoff` (exponential, with jitter): attempt 1 at
once, attempt n after the (n-1)-th delay of the back-off. Attempts are counted across
restarts (the delivery log keeps them), so a notifier that keeps crashing still gives up.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from ucwatch.core.retry import Backoff


@dataclass(frozen=True)
class RetryBudget:
    backoff: Backoff
    max_attempts: int

    def delay_before(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait, after attempt `attempt - 1` failed, before attempt `attempt`."""
        if attempt <= 1:
            return 0.0
        return next(itertools.islice(self.backoff.delays(rng), attempt - 2, None))

    def spent(self, attempts_made: int) -> bool:
        return attempts_made >= self.max_attempts

    def worst_case_s(self) -> float:
        """The longest a delivery can wait in total before it is given up (no jitter)."""
        plain = Backoff(self.backoff.first_s, self.backoff.max_s, self.backoff.factor)
        return sum(itertools.islice(plain.delays(), max(self.max_attempts - 1, 0)))
