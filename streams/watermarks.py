"""Source watermarks of one partition: up to which event time each source's feed is known
complete, and whether a feed has gone quiet (pure; no Kafka, no wall clock).

An absence is only evidence once the source that would report the follow-up has delivered
everything up to the deadline. So for each source the processor keeps a watermark:

- declared: the source wrote a SourceWatermark record ("complete up to T") to the
  lifecycle topic; every partition gets a copy, like a clock tick;
- or estimated, for a source the policy marks `estimate` and that never declared: the
  partition clock minus a high percentile of the lateness (recorded_at - occurred_at) of
  the source's recent events on this partition, capped by a ceiling. When the source
  sends nothing for `stall_after`, the estimate stops at its last arrival + stall_after;
- or none: a source that neither declared nor is estimated is taken as complete (the
  behaviour before watermarks, so nothing changes for a deployment that configured none).

A source's `grace` (policy, default none) holds its watermark back by that much: a bounded
out-of-orderness for the records the source itself enters late, which no declaration
covers. Everything below (holds, releases, events counted behind) uses the watermark in
force, after the grace.

`hold(sources, deadline, now)` tells the engine whether an expectation due at `deadline`
must wait (PENDING) for those sources, and why: a watermark short of the deadline, or a
known outage window (policy `[[feeds.outage]]`) holding it until the window ends.

Everything here is derived from the log (records and their times) and kept in the
partition's state (`to_dict`/`from_dict`), so a replay reaches the same watermarks.

Feeds watched: a source with `stall_after` whose feed shows no progress (its declared
watermark did not advance, or, if never declared, nothing arrived from it) for that long
while the clock goes on raises one FEED_STALLED alert, resolved when it moves again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import Any

from ucwatch.streams.durations import format_duration, iso
from ucwatch.streams.ids import alert_id
from ucwatch.streams.policy import ANY_EVENT, Feeds, Policy, Rule, SourceFeed

EMITTERS: dict[str, tuple[str, ...]] = {
    "ChildEncountered": ("CBP", "ICE"),
    "HhsReferralNotified": ("CBP", "ICE"),
    "PlacementDesignated": ("ORR",),
    "CustodyTransferred": ("ICE", "ICE_ERO"),
    "UnauthorizedDeparture": ("ORR",),
    "ReleasedToSponsor": ("ORR",),
    "DischargeNotificationSent": ("ORR",),
    "WellbeingCallAttempted": ("ORR_PROVIDER",),
    "PostReleaseContact": ("PRS",),
    "WelfareConcernReported": ("CBP", "ICE", "ORR", "ORR_PROVIDER", "PRS"),
    "NtaIssued": ("CBP", "ICE"),
    "NtaServed": ("ICE",),
    "NtaFiled": ("ICE_OPLA",),
    "HearingScheduled": ("EOIR",),
    "HearingAttended": ("EOIR",),
    "FailureToAppear": ("EOIR",),
    "InAbsentiaOrder": ("EOIR",),
    "AddressChanged": ("EOIR", "ORR", "ORR_PROVIDER", "SPONSOR"),
    "LocationVerified": ("ICE", "ORR", "PRS"),
    "CaseClosed": ("EOIR", "ICE", "ICE_ERO", "ORR"),
}
"""Which sources emit each event type (domain.md, "Who emits what"); a source of the
policy adds to it with `emits`."""

REFRESH = 32
"""An estimated source's lateness bound is taken again every this many of its events."""
FEED_RULE = "FEED_STALLED"
FEED_PREFIX = "FEED:"
"""FEED_STALLED alerts are keyed by FEED:<source> where a child's alerts carry its child_id."""


def awaited_sources(rule: Rule, feeds: Feeds) -> tuple[str, ...]:
    """The sources whose completeness a rule's alerts wait for: stated in the policy
    (`awaits`), else the emitters of the event types in `met_by` and, for a rule whose
    alert notifies an agency, also of those in `cancelled_by`: a notice cannot be taken
    back, so it waits until no closure that occurred before the deadline can still arrive.
    A rule that fires at once waits for nothing unless stated: nothing can meet it after
    its start."""
    stated = dict(feeds.awaits).get(rule.name)
    if stated is not None:
        return stated
    if rule.immediate:
        return ()
    emitters = {name: set(sources) for name, sources in EMITTERS.items()}
    for feed in feeds.sources:
        for event_type in feed.emits:
            emitters.setdefault(event_type, set()).add(feed.name)
    found: set[str] = set()
    for matcher in (*rule.met_by, *rule.cancelled_by) if rule.notify else rule.met_by:
        for event_type in matcher.event_types or (ANY_EVENT,):
            if event_type == ANY_EVENT:
                found.update(*emitters.values())
            else:
                found.update(emitters.get(event_type, ()))
    return tuple(sorted(found))


Hold = tuple[str, "int | None"]
"""(why the expectation waits, the clock instant at which to look again or None: when a
watermark moves)"""


class PartitionMarks:
    """The watermarks of one partition. Changed in place by the processor (the one owner);
    `dirty` says it must be written to the store."""

    def __init__(self, feeds: Feeds) -> None:
        self.feeds = feeds
        self._config: dict[str, SourceFeed] = {s.name: s for s in feeds.sources}
        self.declared: dict[str, int] = {}        # source -> complete_up_to
        self.progress_at: dict[str, int] = {}     # source -> clock when its watermark last advanced
        self.last_arrival: dict[str, int] = {}    # source -> latest recorded_at seen
        self.first_arrival: dict[str, int] = {}   # source -> earliest recorded_at seen
        self.arrivals: dict[str, int] = {}        # source -> events seen (repeats not counted)
        self.samples: dict[str, list[int]] = {}   # estimated sources: recent lateness, oldest first
        self.late: dict[str, int] = {}            # events that arrived behind their source's watermark
        self.retracted: dict[str, int] = {}       # retractions those late events caused
        self.stalled: dict[str, list[Any]] = {}   # source -> [alert_id, sequence, since_ms]
        self.bounds: dict[str, int] = {}          # estimated sources: the lateness bound in force
        self.dirty = False

    @property
    def active(self) -> bool:
        """Anything to watch: sources or outages in the policy, or a declared watermark. If
        not, the processor leaves the engine and the store as they were before watermarks."""
        return bool(self._config or self.feeds.outages or self.declared)

    # what the log brings

    def behind(self, source: str | None, occurred_ms: int, now: int) -> bool:
        """An event of `source` occurring at `occurred_ms` arrives behind the watermark: the
        feed had said (or the estimate held) it was complete past that instant."""
        mark = self.mark(source, now) if source else None
        return mark is not None and occurred_ms <= mark

    def observe(self, source: str | None, occurred_ms: int, recorded_ms: int, now: int,
                behind: bool) -> None:
        """A new event of `source` arrived (a repeat is not observed again)."""
        if not source:
            return
        if behind:
            self.late[source] = self.late.get(source, 0) + 1
        self.arrivals[source] = self.arrivals.get(source, 0) + 1
        if recorded_ms < self.first_arrival.get(source, 2 ** 62):
            self.first_arrival[source] = recorded_ms
        if recorded_ms > self.last_arrival.get(source, -1):
            self.last_arrival[source] = recorded_ms
            if source not in self.declared:
                self.progress_at[source] = max(recorded_ms, now)
        config = self._config.get(source)
        if config is not None and config.estimate:
            window = self.samples.setdefault(source, [])
            window.append(max(0, recorded_ms - occurred_ms))
            if len(window) > config.window:
                del window[0]
            # taken again every REFRESH events, not per event (a sort of the window); kept
            # in the state, so a restarted processor goes on with the same bound
            if len(window) >= config.min_samples and (
                    source not in self.bounds or self.arrivals[source] % REFRESH == 0):
                self.bounds[source] = self._bound(config)
        self.dirty = True

    def declare(self, source: str, complete_up_to: int, now: int) -> bool:
        """A declared watermark; True if it moved forward (a watermark never goes back)."""
        if complete_up_to <= self.declared.get(source, -(2 ** 62)):
            return False
        self.declared[source] = complete_up_to
        self.progress_at[source] = now
        self.dirty = True
        return True

    def count_retracted(self, source: str, count: int) -> None:
        self.retracted[source] = self.retracted.get(source, 0) + count
        self.dirty = True

    # what the engine asks

    def mark(self, source: str, now: int) -> int | None:
        """Up to which event time `source` is complete (the declared or estimated watermark,
        less the source's `grace`); None: it has no watermark."""
        config = self._config.get(source)
        declared = self.declared.get(source)
        if declared is not None:
            return declared - config.grace_ms if config is not None else declared
        if config is None or not config.estimate:
            return None
        bound = self.bounds.get(source, config.ceiling_ms)
        base = now
        last = self.last_arrival.get(source)
        if config.stall_after_ms is not None and last is not None:
            base = min(now, last + config.stall_after_ms)
        return base - bound - config.grace_ms

    def _bound(self, config: SourceFeed) -> int:
        ordered = sorted(self.samples.get(config.name, ()))
        rank = max(0, math.ceil(config.percentile / 100 * len(ordered)) - 1)
        return min(config.ceiling_ms, ordered[rank])

    def hold(self, sources: Iterable[str], deadline: int, now: int) -> Hold | None:
        """Why an expectation due at `deadline` awaiting `sources` must wait, or None."""
        for outage in self.feeds.outages:
            if outage.start_ms <= deadline < outage.end_ms and now < outage.end_ms and outage.source in sources:
                return f"held: {outage.reason} ({outage.source} until {iso(outage.end_ms)})", outage.end_ms
        for source in sources:
            mark = self.mark(source, now)
            if mark is not None and mark < deadline:
                return f"pending: {source} complete up to {iso(mark)} only", None
        return None

    # feeds watched

    def stalls(self, now: int) -> list[tuple[str, str, int, str, int, int]]:
        """FEED_STALLED changes due at `now`: (source, change OPENED|RESOLVED, fired_at,
        alert_id, sequence, since), for the sources with `stall_after`."""
        out = []
        for config in self.feeds.sources:
            after = config.stall_after_ms
            source = config.name
            if after is None or source not in self.progress_at:
                continue
            since = self.progress_at[source]
            open_ = self.stalled.get(source)
            if open_ is None and now - since > after:
                the_id = alert_id(FEED_PREFIX + source, FEED_RULE, str(since))
                self.stalled[source] = [the_id, 1, since]
                out.append((source, "OPENED", since + after, the_id, 1, since))
            elif open_ is not None and since > open_[2]:
                del self.stalled[source]
                out.append((source, "RESOLVED", since, open_[0], open_[1] + 1, open_[2]))
        if out:
            self.dirty = True
        return out

    @staticmethod
    def stall_reason(source: str, since: int, after_ms: int) -> str:
        return (f"feed {source} shows no progress since {iso(since)} "
                f"(more than {format_duration(after_ms)})")

    # persistence (one row per partition, beside the clock)

    def to_dict(self) -> dict[str, Any]:
        return {"declared": self.declared, "progress": self.progress_at, "arrival": self.last_arrival,
                "first": self.first_arrival, "arrivals": self.arrivals, "bounds": self.bounds,
                "samples": self.samples, "late": self.late, "retracted": self.retracted,
                "stalled": self.stalled}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, feeds: Feeds) -> PartitionMarks:
        marks = cls(feeds)
        if data:
            marks.declared = dict(data.get("declared", {}))
            marks.progress_at = dict(data.get("progress", {}))
            marks.last_arrival = dict(data.get("arrival", {}))
            marks.first_arrival = dict(data.get("first", {}))
            marks.arrivals = dict(data.get("arrivals", {}))
            marks.bounds = dict(data.get("bounds", {}))
            marks.samples = {k: list(v) for k, v in data.get("samples", {}).items()}
            marks.late = dict(data.get("late", {}))
            marks.retracted = dict(data.get("retracted", {}))
            marks.stalled = {k: list(v) for k, v in data.get("stalled", {}).items()}
        return marks


def rule_sources(policy: Policy) -> dict[str, tuple[str, ...]]:
    return {rule.name: awaited_sources(rule, policy.feeds) for rule in policy.rules}


class HeldAlerts:
    """The children with PENDING alerts, per awaited source: heaps of (deadline, child_id),
    stale entries tolerated (the engine finds nothing to do). Not stored: rebuilt from the
    children's states (their PENDING records) like the timers."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[int, str]]] = {}

    def add(self, child_id: str, sources: Iterable[str], deadline: int) -> None:
        for source in sources:
            heapq.heappush(self._heaps.setdefault(source, []), (deadline, child_id))

    def released(self, marks: PartitionMarks, now: int) -> list[str]:
        """The children whose PENDING alerts a source's watermark may now release, in
        (deadline, child_id) order, each once."""
        if not self._heaps:
            return []
        due: list[tuple[int, str]] = []
        for source, heap in list(self._heaps.items()):
            mark = marks.mark(source, now)
            while heap and (mark is None or heap[0][0] <= mark):
                due.append(heapq.heappop(heap))
            if not heap:
                del self._heaps[source]
        return list(dict.fromkeys(child for _, child in sorted(due)))
