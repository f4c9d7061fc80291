"""The commit watch: a partition whose acked offsets start past a gap faust never closes."""

from __future__ import annotations

from ucwatch.streams.commit_watch import CommitWatch

TP = ("ucwatch.lifecycle", 4)


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_gap_at_the_head_that_stays_past_the_grace_is_stuck() -> None:
    clock = Monotonic()
    watch = CommitWatch(30.0, monotonic=clock)
    assert watch.observe({TP: (29, 31)}) == []
    clock.now = 29.0
    assert watch.observe({TP: (29, 900)}) == []
    clock.now = 30.0
    [stuck] = watch.observe({TP: (29, 1245)})
    assert (stuck.partition, stuck.committed, stuck.lowest_acked, stuck.for_s) == (TP, 29, 1245, 30.0)
    assert "partition 4: committed offset 29, records acked from 1245 on" in stuck.describe()


def test_commits_that_move_or_heads_faust_still_commits_are_not_stuck() -> None:
    clock = Monotonic()
    watch = CommitWatch(30.0, monotonic=clock)
    for step, heads in enumerate([{TP: (29, 31)}, {TP: (40, 42)}, {TP: (50, 51)}, {TP: (50, None)},
                                  {TP: (None, 70)}, {TP: (-1001, 70)}, {TP: (60, 62)}]):
        clock.now = step * 40.0
        assert watch.observe(heads) == [], heads  # the gap moved with the commit, or there is none


def test_a_gap_that_closes_starts_the_grace_again() -> None:
    clock = Monotonic()
    watch = CommitWatch(30.0, monotonic=clock)
    watch.observe({TP: (29, 31)})
    clock.now = 20.0
    watch.observe({TP: (29, 29)})
    clock.now = 40.0
    assert watch.observe({TP: (29, 31)}) == []
    clock.now = 70.0
    assert len(watch.observe({TP: (29, 31)})) == 1
