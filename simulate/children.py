"""The unit of work: one child's delivered items from (seed, serial, encounter time).

For each child the factory seeds one random stream from the run's seed and the child's
serial, draws the history from it (lifecycle), counts the truth, then draws the feed's
behaviour from the same stream, after the history, so feed rates never change a history.
The delivered truth counts the same figures over the events the feed delivered.
The result depends only on the config and the child, which is what lets worker processes
share out the children and still produce byte-identical output.
"""

from __future__ import annotations

import hashlib
import random

from ucwatch.simulate.clock import to_ms
from ucwatch.simulate.config import SimulationConfig
from ucwatch.simulate.feed import Feed, Item
from ucwatch.simulate.lifecycle import Event, Lifecycle
from ucwatch.simulate.truth import GroundTruth

Child = tuple[int, int]  # (serial, encounter time ms)


def stream_seed(seed: int, purpose: str) -> int:
    """A 64-bit seed for one purpose, shifted left so a serial can be added to it."""
    digest = hashlib.sha256(f"ucwatch-simulate/{seed}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") << 40


class ChildFactory:
    def __init__(self, config: SimulationConfig) -> None:
        as_of = to_ms(config.effective_as_of)
        self._rng = random.Random()
        self._child_seed = stream_seed(config.seed, "child")
        self._lifecycle = Lifecycle(config, self._rng, as_of, stream_seed(config.seed, "sponsor"))
        self._feed = Feed(config.feed, self._rng, as_of, stream_seed(config.seed, "loads"))
        self.truth = GroundTruth(as_of)
        """What happened, from each child's full history (up to as_of)."""
        self.delivered_truth = GroundTruth(as_of)
        """The same counts over only the events delivered (recorded before as_of)."""

    def make(self, children: list[Child], fy: int, month: tuple[int, int]) -> list[Item]:
        rng, lifecycle, feed = self._rng, self._lifecycle, self._feed
        truth, delivered_truth = self.truth, self.delivered_truth
        items: list[Item] = []
        for serial, t0 in children:
            rng.seed(self._child_seed + serial)
            child_id, history = lifecycle.child(serial, t0, fy, month)
            truth.observe(fy, history)
            delivered: list[Event] = []
            items += feed.deliver(serial, child_id, history, delivered)
            delivered_truth.observe(fy, delivered)
        return items
