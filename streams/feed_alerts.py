"""FEED_STALLED as alert changes: one per source feed, not one per child (watermarks.py
decides when a feed stalls and recovers; this turns that into the AlertChanged record)."""

from __future__ import annotations

from ucwatch.streams.engine import AlertChange
from ucwatch.streams.lifecycle import OPEN, OPENED, RESOLVED
from ucwatch.streams.policy import Feeds
from ucwatch.streams.watermarks import FEED_PREFIX, FEED_RULE, PartitionMarks

SEVERITY = "HIGH"
BASIS = "feeds watched: an absence is only evidence while the source delivers (issue 11)"


def feed_alert(stall: tuple[str, str, int, str, int, int], feeds: Feeds) -> tuple[str, AlertChange]:
    """(key, change) of a FEED_STALLED turn from `PartitionMarks.stalls`; the key stands
    where a child's alerts carry the child_id."""
    source, change, fired_at, the_id, sequence, since = stall
    config = feeds.source(source)
    after = config.stall_after_ms if config is not None and config.stall_after_ms is not None else 0
    key = FEED_PREFIX + source
    reason = PartitionMarks.stall_reason(source, since, after)
    if change != OPENED:
        reason = f"feed {source} moved again; {reason.removeprefix(f'feed {source} ')}"
    return key, AlertChange(the_id, key, FEED_RULE, change, OPEN if change == OPENED else RESOLVED, SEVERITY,
                            since + after, fired_at, reason, "", BASIS, sequence)
