"""What an alert is about when it is not a child: the detection's own operations alerts.

An alert carries a `child_id`, its Kafka key. Two alerts of the workers stand for no child
and put something of ucwatch's own in that place instead:

| rule | key | about |
|---|---|---|
| CLOCK_STALLED | `clock:<topic>/<partition>` (streams/clock_watch.py) | a partition's clock stopped (the ticker) |
| FEED_STALLED | `FEED:<source>` (streams/watermarks.py, `FEED_PREFIX`) | a source's feed shows no progress |

Such a key has no child page (the child's page takes pseudonymous child tokens only), so
the console shows what it names instead of a link to a child, and actions on the alert
carry the key as it is. Pure: the keys are matched strictly, so a child token can never
be taken for one, nor one of them for a child token.
"""

from __future__ import annotations

import re

from ucwatch.streams.watermarks import FEED_PREFIX

CLOCK_KEY = re.compile(r"^clock:(?P<topic>[A-Za-z0-9._-]{1,249})/(?P<partition>\d{1,6})\Z")
"""A partition's clock; Kafka topic names are at most 249 of these characters."""
FEED_KEY = re.compile(rf"^{re.escape(FEED_PREFIX)}(?P<source>[A-Z][A-Z0-9_]{{0,63}})\Z")
"""A source's feed, named by its agency code (producers/watermarks.py)."""


def operations_subject(key: str) -> str | None:
    """What an operations alert's key names, in words ("the clock of ucwatch.lifecycle,
    partition 3", "the EOIR feed"); None for any other key (a child's)."""
    clock = CLOCK_KEY.match(key)
    if clock is not None:
        return f"the clock of {clock['topic']}, partition {int(clock['partition'])}"
    feed = FEED_KEY.match(key)
    if feed is not None:
        return f"the {feed['source']} feed"
    return None
