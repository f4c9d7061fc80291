"""Drawing from the calibrated distributions with one `random.Random` stream.

Only `random.Random` methods whose output is fixed for a given seed are used, so that a
seed reproduces a run on any machine with the same Python version.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from statistics import NormalDist
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A categorical distribution over `values`, weights need not sum to one."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        if not pairs or any(weight < 0 for _, weight in pairs):
            raise ValueError("a weighted choice needs at least one value and no negative weight")
        self.values = tuple(value for value, _ in pairs)
        self._cumulative = list(accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        return self.values[bisect_right(self._cumulative, rng.random() * self._total)]

    def share(self, value: T) -> float:
        index = self.values.index(value)
        low = self._cumulative[index - 1] if index else 0.0
        return (self._cumulative[index] - low) / self._total


try:  # the C function behind NormalDist.inv_cdf, without the method's overhead
    from _statistics import _normal_dist_inv_cdf as _normal_quantile  # type: ignore[import-not-found]  # C, no stubs
except ImportError:  # pragma: no cover - other interpreters
    def _normal_quantile(p: float, mu: float, sigma: float) -> float:
        return NormalDist(mu, sigma).inv_cdf(p)


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    # The inverse CDF of one uniform: exact, and twice as fast as rng.gauss.
    return math.exp(_normal_quantile(rng.random() or 0.5, math.log(median), sigma))


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to `weights` summing exactly to `total` (largest remainder)."""
    weight_sum = float(sum(weights))
    if total == 0 or weight_sum == 0:
        return [0] * len(weights)
    exact = [total * w / weight_sum for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
