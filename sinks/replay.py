"""The replay decision: how a partition is batched after a restart, against its ledger.

Modelled on clickhouse-kafka-connect's `Processing` state machine (SAME / NEW / CONTAINS /
OVERLAPPING ... of a batch's range against the stored range), for a sink that forms its
batches itself and so can make every batch start where the ledger says.

The ledger (sinks/ledger.py) holds each written batch's range, recorded before its rows.
Ranges of a partition are recorded one after another, each only once the previous one's
insert returned: so every range but the partition's last is confirmed by its successor,
and a range not yet committed in Kafka may have been written, partly or wholly.

**At assignment**, `plan(committed, ranges)`, with the ranges that end at or after the
group's committed offset:

- committed offset known: every such range is in doubt (written, not committed); reading
  starts at the committed offset, or at the first range if that starts earlier;
- no committed offset (the group never committed): only the last range is in doubt, and
  reading starts at its first offset (earlier ranges are confirmed by their successors);
  without any range, at the partition's beginning.

**Whenever a batch starts** at offset `o`, `decide(o, ranges)` compares it with the next
range in doubt, L = [first, last]:

| case     | when               | the batch                                                      |
|----------|--------------------|----------------------------------------------------------------|
| NEW      | no range left      | as usual: ends by size or time                                 |
| BEFORE   | o < first          | new, and ends at `first - 1` at the latest: a batch overlapping |
|          |                    | L (clickhouse-kafka-connect's OVERLAPPING) would put records of |
|          |                    | L's insert under another token                                 |
| SAME     | o == first         | L formed again, record for record, ending at `last`, written   |
|          |                    | with L's token: ClickHouse drops the blocks it already has     |
| CONTAINS | first < o <= last  | L's head is gone (compacted away): the rest of L, under L's    |
|          |                    | token, ending at `last`                                        |
| PASSED   | o > last           | all of L is gone (compacted): L is dropped, decide again       |

**At the partition's end** (every record before offset `end` read), no record of the
ranges still in doubt will come: they are dropped, PASSED if they start before `end` (all
their records compacted away), ZERO if they start at or after it (`beyond_end`: the topic
was deleted and made again, or its records expired). An open SAME or CONTAINS batch lost
its tail the same way: it is finished as it is, under its range's token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Range:
    """The offsets [first, last] of one ledgered batch."""
    first: int
    last: int


class Case(Enum):
    """How a batch begins; a PASSED range is not a batch, `Decision.passed` counts them."""
    NEW = "new"
    BEFORE = "before"
    SAME = "same"
    CONTAINS = "contains"


@dataclass(frozen=True)
class Decision:
    case: Case
    first_offset: int
    """Where the batch's name (and token) begins: the range's first offset when it is one."""
    replay_until: int | None = None
    """SAME, CONTAINS: the batch ends exactly here."""
    end_by: int | None = None
    """BEFORE: the batch ends here at the latest."""
    passed: int = 0
    """Ranges dropped because all their records are gone (PASSED), before this decision."""


@dataclass(frozen=True)
class Plan:
    start: int | None
    """The offset to read from; None: the partition's beginning (no commit, no ledger)."""
    in_doubt: tuple[Range, ...]


def plan(committed: int | None, ranges: Sequence[Range]) -> Plan:
    """What to read again at assignment (see the module doc); `ranges` in offset order,
    those ending at or after `committed` (all of the partition's when it is None)."""
    if committed is None:
        last = tuple(ranges[-1:])
        return Plan(last[0].first if last else None, last)
    in_doubt = tuple(r for r in ranges if r.last >= committed)
    start = min(committed, in_doubt[0].first) if in_doubt else committed
    return Plan(start, in_doubt)


def decide(offset: int, ranges: Sequence[Range]) -> Decision:
    """The case of a batch starting at `offset` against the ranges still in doubt."""
    passed = 0
    for candidate in ranges:
        if offset > candidate.last:
            passed += 1
            continue
        if offset < candidate.first:
            return Decision(Case.BEFORE, offset, end_by=candidate.first - 1, passed=passed)
        case = Case.SAME if offset == candidate.first else Case.CONTAINS
        return Decision(case, candidate.first, replay_until=candidate.last, passed=passed)
    return Decision(Case.NEW, offset, passed=passed)


def beyond_end(end: int, ranges: Sequence[Range]) -> int:
    """How many of the last `ranges` start at or after the partition's end (ZERO): none of
    their records will come."""
    return sum(1 for r in ranges if r.first >= end)
