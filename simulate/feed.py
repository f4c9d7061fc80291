"""How the agencies' feeds deliver a child's events: lag, lateness, disorder, duplicates.

Each event gets a `recorded_at` no earlier than its `occurred_at`:

- real-time sources (CBP, ICE, USCIS, sponsors) record within minutes to hours, and a
  small share days late;
- batch sources (ORR, its care providers, PRS, EOIR) arrive in a nightly load, all of a
  load sharing the load's timestamp, and a quarter of them 7 to 30 days late (domain.md:
  "lateness of 7 days or more is normal");
- a share of events is held back until after the child's next event (out of order);
- a share is delivered twice, same event_id and content;
- with `late_by_load`, a batch source's tail lateness hits whole nightly loads (drawn per
  source and load from the run's seed) instead of single events;
- with `outage`, one source delivers nothing recorded inside a window until it ends.

Copies recorded at or after as_of are not delivered; `deliver` can also hand back the
events that were (in history order), which is what any observer of the feed can know by
as_of (the delivered truth, truth.py). Each copy becomes a pending item
``(recorded_ms, tie, serial, seq, copy, *row)``, `row` being the values of the JSON
object in key order (`KEYS[event_type]`). A flat tuple of strings and numbers is one
object the garbage collector stops tracking at its first look, where a nested row would
be scanned again and again while a month waits. Sorting items orders arrival by recorded_at,
ties broken by a random key from the child's stream (a nightly load arrives shuffled, but
reproducibly), then by child, position and copy, so no two items ever compare equal.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from ucwatch.simulate.clock import DAY, HOUR, MINUTE, iso, to_ms
from ucwatch.simulate.config import FeedRates
from ucwatch.simulate.events import EOIR, EVENT_TYPES, ORR, ORR_PROVIDER, PRS, SOURCES
from ucwatch.simulate.lifecycle import Event
from ucwatch.simulate.sampling import lognormal

# Nightly load times, UTC; several sources loading at once would pile up identical stamps.
BATCH_LOAD_AT = {ORR: 3 * HOUR, ORR_PROVIDER: 4 * HOUR, PRS: 4 * HOUR + 30 * MINUTE, EOIR: 6 * HOUR}

Item = tuple[Any, ...]  # (recorded_ms, tie, serial, seq, copy, *row)
ROW_AT = 5


class Feed:
    def __init__(self, rates: FeedRates, rng: random.Random, as_of_ms: int, load_seed: int = 0) -> None:
        self._rates = rates
        self._rng = rng
        self._as_of = as_of_ms
        self._load_texts: dict[int, str] = {}
        self._load_seed = load_seed
        self._load_delay: dict[tuple[int, int], int] = {}
        self._outage: tuple[int, int, int] | None = None
        if rates.outage is not None:
            name, start, end = rates.outage
            self._outage = (SOURCES.index(name), _ms(start), _ms(end))

    def _late_load(self, source: int, load_at: int) -> int:
        key = (source, load_at)
        delay = self._load_delay.get(key)
        if delay is None:
            delay = self._load_delay[key] = load_delay(self._rates, self._load_seed, source, load_at)
        return delay

    # the per-event loop in one frame: a helper call per event would cost more than the draws
    def recorded_times(self, events: list[Event]) -> list[int]:  # noqa: PLR0912
        rng, f = self._rng, self._rates
        random, uniform = rng.random, rng.uniform
        realtime_median = f.realtime_lag_median_minutes * MINUTE
        batch_median = f.batch_processing_median_hours * HOUR
        realtime_late, batch_late = f.realtime_late_share, f.batch_late_share
        by_load, outage = f.late_by_load, self._outage
        recorded = []
        for occurred, _, source, _, _ in events:
            load_at = BATCH_LOAD_AT.get(source)
            if load_at is None:
                at = occurred + int(lognormal(rng, realtime_median, 1.0))
                if random() < realtime_late:
                    late = int(uniform(*f.realtime_late_days) * DAY)
                    if not by_load:
                        at += late
                if by_load:
                    at += self._late_load(source, at // DAY * DAY)
            else:
                ready = occurred + int(lognormal(rng, batch_median, 0.8))
                at = ((ready - load_at) // DAY + 1) * DAY + load_at
                if random() < batch_late:
                    # whole days keep a late record on a load timestamp
                    late = int(uniform(*f.batch_late_days)) * DAY
                    if not by_load:
                        at += late
                if by_load:
                    at += self._late_load(source, at)
            if outage is not None and source == outage[0] and outage[1] <= at < outage[2]:
                at = outage[2] if load_at is None else ((outage[2] - load_at - 1) // DAY + 1) * DAY + load_at
            recorded.append(at)
        if f.out_of_order_share:
            out_of_order = f.out_of_order_share
            for i in range(len(recorded) - 1):
                if random() < out_of_order and recorded[i] <= recorded[i + 1]:
                    held = (recorded[i + 1] - recorded[i]) // DAY + 1 + rng.randrange(3)
                    recorded[i] += held * DAY
        return recorded

    def deliver(self, serial: int, child_id: str, events: list[Event],
                delivered: list[Event] | None = None) -> list[Item]:
        """The pending items of a child's events; `delivered`, if given, receives each event
        recorded before as_of, once, in history order. Draws the same random numbers either way."""
        as_of, duplicate_share = self._as_of, self._rates.duplicate_share
        random, getrandbits = self._rng.random, self._rng.getrandbits
        load_texts = self._load_texts
        items: list[Item] = []
        append = items.append
        for seq, (event, recorded) in enumerate(zip(events, self.recorded_times(events), strict=True)):
            if recorded >= as_of:
                continue
            if delivered is not None:
                delivered.append(event)
            occurred, etype, source, eid, fields = event
            recorded_text = load_texts.get(recorded)
            if recorded_text is None:
                recorded_text = iso(recorded)
                if source in BATCH_LOAD_AT:  # a load stamp recurs for a whole nightly load
                    load_texts[recorded] = recorded_text
            row = (eid, EVENT_TYPES[etype], child_id, iso(occurred), recorded_text, SOURCES[source],
                   True, *fields)
            append((recorded, getrandbits(32), serial, seq, 0, *row))
            if random() < duplicate_share:
                append((recorded, getrandbits(32), serial, seq, 1, *row))
        return items


def _ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))



def load_delay(rates: FeedRates, load_seed: int, source: int, load_at: int) -> int:
    """late_by_load: the extra delay of one source's nightly load, or of a real-time source's
    day (`load_at` its midnight), 0 for most: the same for every child, since it depends
    only on the run's seed, the source and the load."""
    draw = random.Random(load_seed + source * 100_003 + load_at // DAY)
    if draw.random() >= rates.load_late_share:
        return 0
    low, high = rates.batch_late_days if source in BATCH_LOAD_AT else rates.realtime_late_days
    return int(draw.uniform(low, high)) * DAY
