"""Declared source watermarks for a simulated feed: what each source can know, at regular
instants, about how complete its delivered feed is.

A source knows its own delivery, not the records it has not made yet. So at each
declaration it says "complete up to" its declaration instant minus its usual processing
allowance (by default the 99th percentile of the feed's normal lag; `vouch` sets it), and no later than the start of
the oldest export it is still holding back (a late nightly load, or a late day of a
real-time source, with the feed's `late_by_load`) or of an outage window it is in. What
it cannot know (a single record made late, an event held back past the child's next one)
arrives behind its watermark: the feed's fault, counted per source by the processor.

Batch sources declare right after each nightly load, the others every `every_ms`. The
result depends only on the config, like the feed itself (the load delays are drawn from
the run's seed, feed.load_delay).
"""

from __future__ import annotations

import math
from datetime import datetime
from statistics import NormalDist

from ucwatch.simulate.children import stream_seed
from ucwatch.simulate.clock import DAY, HOUR, MINUTE, to_ms
from ucwatch.simulate.config import FeedRates, SimulationConfig
from ucwatch.simulate.events import SOURCES
from ucwatch.simulate.feed import BATCH_LOAD_AT, load_delay

Declaration = tuple[int, str, int]
"""(declared_at, source, complete_up_to), epoch ms"""

DECLARING = ("CBP", "ICE", "ICE_ERO", "ICE_OPLA", "ORR", "ORR_PROVIDER", "PRS", "EOIR")
VOUCH_PERCENTILE = 99.0
_Z99 = 2.326   # the 99th percentile of a standard normal, as docs/detect.md's figures were made with


class _Source:
    """What one source knows of its own feed."""

    def __init__(self, rates: FeedRates, seed: int, source: str, vouch: float = VOUCH_PERCENTILE) -> None:
        self.rates, self.seed, self.source = rates, seed, source
        self.code = SOURCES.index(source)
        self.load_at = BATCH_LOAD_AT.get(self.code)
        # the lag is lognormal (feed.py): the allowance is its `vouch` percentile
        z = _Z99 if vouch == VOUCH_PERCENTILE else NormalDist().inv_cdf(vouch / 100)
        if self.load_at is not None:
            self.allowance = int(rates.batch_processing_median_hours * HOUR * math.exp(z * 0.8))
        else:
            self.allowance = int(rates.realtime_lag_median_minutes * MINUTE * math.exp(z * 1.0))
        self.longest = int(max(rates.batch_late_days[1], rates.realtime_late_days[1])) + 1
        self.outage = None
        if rates.outage is not None and rates.outage[0] == source:
            self.outage = (_ms(rates.outage[1]), _ms(rates.outage[2]))

    def instants(self, day: int, every_ms: int) -> list[int]:
        return [day + self.load_at + MINUTE] if self.load_at is not None else list(range(day, day + DAY, every_ms))

    def complete_up_to(self, day: int, at: int) -> int:
        batch = self.load_at is not None
        export = day + self.load_at if self.load_at is not None else day   # tonight's load, or today
        up_to = (export if batch else at) - self.allowance
        if self.rates.late_by_load:
            for k in range(self.longest):
                if self._held(export - k * DAY, k, batch):
                    up_to = min(up_to, export - k * DAY - (DAY if batch else 0) - self.allowance)
        if self.outage is not None and self.outage[0] <= at < self.outage[1]:
            up_to = min(up_to, self.outage[0] - self.allowance)
        return up_to

    def _held(self, export: int, days_ago: int, batch: bool) -> bool:
        """Whether the export of `days_ago` (a load, or a real-time day) is still held back."""
        delay = load_delay(self.rates, self.seed, self.code, export)
        if batch:   # a load arrives whole, at its time plus the delay
            return delay > days_ago * DAY
        return delay > 0 and delay >= days_ago * DAY   # a day's records arrive over the day


def declarations(config: SimulationConfig, first_ms: int, last_ms: int, every_ms: int = 2 * HOUR,
                 sources: tuple[str, ...] = DECLARING, *, vouch: float = VOUCH_PERCENTILE) -> list[Declaration]:
    """Each source's declarations from `first_ms` to `last_ms` (plus the longest late
    export), only those that move its watermark forward, in declared_at order. `vouch`:
    the percentile of its normal processing lag a source allows for (99: a declaration is
    false for about 1% of its records then in flight; 50: for about half)."""
    seed = stream_seed(config.seed, "loads")
    out: list[Declaration] = []
    for name in sources:
        source = _Source(config.feed, seed, name, vouch)
        last = -(2 ** 62)
        day = first_ms // DAY * DAY
        while day <= last_ms + source.longest * DAY:
            for at in source.instants(day, every_ms):
                up_to = source.complete_up_to(day, at)
                if up_to > last:
                    out.append((at, name, up_to))
                    last = up_to
            day += DAY
    out.sort()
    return out


def _ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
