"""What the queue shows of an alert held PENDING: since when it waits, and for which feed.

An alert is PENDING while it is overdue but a feed that would report its follow-up is not
yet complete up to its deadline, or a known outage of that feed covers the deadline
(docs/detect.md, Source watermarks). It is not open: nobody is asked to act, and the
console offers no action that would open it. AlertChanged v2 has no field naming the
awaited sources; the detector's reason for the PENDING change names the one it waits for
(`PartitionMarks.hold`, streams/watermarks.py), in one of two forms:

- ``pending: EOIR complete up to 2023-03-08T00:00:00Z only`` (a watermark short of the deadline);
- ``held: court closure (EOIR until 2023-01-08T00:00:00Z)`` (a known outage).

Pure: no clock, no Kafka.
"""

from __future__ import annotations

import re
from datetime import datetime

from ucwatch.console.fold import AlertEntry

PENDING = "PENDING"
_WATERMARK = re.compile(r"^pending: (\S+) complete up to ")
_OUTAGE = re.compile(r"^held: .*\((\S+) until [^()]*\)$")


def awaited_source(reason: str) -> str | None:
    """The feed a PENDING change's reason says the alert waits for; None if it names none."""
    match = _WATERMARK.match(reason) or _OUTAGE.match(reason)
    return match.group(1) if match else None


def pending_since(entry: AlertEntry) -> datetime | None:
    """Event time of the PENDING change that began the current wait (the detector may
    write PENDING again, e.g. with another reason, while the alert still waits)."""
    since = None
    for sequence in sorted(entry.changes, reverse=True):
        change = entry.changes[sequence]
        if change.status != PENDING:
            break
        since = change.fired_at
    return since
