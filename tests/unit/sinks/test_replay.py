"""The replay decision (sinks/replay.py): each case of a batch against the ledger, and the
plan at assignment."""

from __future__ import annotations

import pytest

from ucwatch.sinks.replay import Case, Decision, Plan, Range, beyond_end, decide, plan

L = Range(10, 19)


@pytest.mark.parametrize(("offset", "ranges", "decision"), [
    (5, [], Decision(Case.NEW, 5)),
    (5, [L], Decision(Case.BEFORE, 5, end_by=9)),
    (9, [L], Decision(Case.BEFORE, 9, end_by=9)),
    (10, [L], Decision(Case.SAME, 10, replay_until=19)),
    (15, [L], Decision(Case.CONTAINS, 10, replay_until=19)),
    (19, [L], Decision(Case.CONTAINS, 10, replay_until=19)),
    (20, [L], Decision(Case.NEW, 20, passed=1)),
    (25, [L, Range(20, 29)], Decision(Case.CONTAINS, 20, replay_until=29, passed=1)),
    (45, [L, Range(20, 29), Range(50, 59)], Decision(Case.BEFORE, 45, end_by=49, passed=2)),
], ids=["new", "before", "before-adjacent", "same", "contains", "contains-last", "passed-then-new",
        "passed-then-contains", "passed-twice-then-before"])
def test_decide(offset: int, ranges: list[Range], decision: Decision) -> None:
    assert decide(offset, ranges) == decision


@pytest.mark.parametrize(("committed", "ranges", "expected"), [
    (None, [], Plan(None, ())),
    (None, [Range(0, 9), L], Plan(10, (L,))),                       # only the last is in doubt
    (10, [L, Range(20, 29)], Plan(10, (L, Range(20, 29)))),          # written, not committed
    (5, [L], Plan(5, (L,))),                                         # a gap without rows first
    (15, [L], Plan(10, (L,))),                                       # a commit inside a range
    (20, [L], Plan(20, ())),                                         # committed past it
    (20, [], Plan(20, ())),
])
def test_plan(committed: int | None, ranges: list[Range], expected: Plan) -> None:
    assert plan(committed, ranges) == expected


def test_ranges_beyond_the_partitions_end_are_counted() -> None:
    assert beyond_end(15, [L, Range(20, 29), Range(30, 39)]) == 2
    assert beyond_end(40, [L, Range(20, 29)]) == 0
