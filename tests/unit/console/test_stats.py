"""The dashboard's figures from the state: open alerts over time, times to act by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.console.support import T0, action, change
from ucwatch.console.actions import ActionKind
from ucwatch.console.fold import ConsoleState
from ucwatch.console.stats import buckets, open_over_time, quantile, times_by_rule


def test_buckets_pick_months_days_or_hours() -> None:
    ends, labels = buckets(datetime(2019, 10, 5, tzinfo=UTC), datetime(2020, 1, 20, tzinfo=UTC))
    assert labels == ["2019-10", "2019-11", "2019-12", "2020-01"]
    assert ends[-1] == datetime(2020, 2, 1, tzinfo=UTC)
    ends, labels = buckets(datetime(2019, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC))
    assert len(labels) <= 48 and labels[:2] == ["2019-01", "2019-03"]  # two months a bucket
    _, labels = buckets(T0, T0 + timedelta(days=3))
    assert labels == ["05-01", "05-02", "05-03", "05-04"]
    _, labels = buckets(T0, T0 + timedelta(hours=2, minutes=5))
    assert labels == ["01 12:00", "01 13:00", "01 14:00"]


def test_open_over_time_counts_each_alert_while_open_with_its_severity_then() -> None:
    state = ConsoleState()
    day = timedelta(days=1)
    state.apply_alert(change("a", fired_at=T0, severity="MEDIUM", rule="NTA_NOT_SERVED"))
    state.apply_alert(change("a", 2, change="ESCALATED", severity="HIGH", fired_at=T0 + 2 * day,
                             rule="NTA_NOT_SERVED"))
    state.apply_alert(change("b", fired_at=T0 + day, severity="HIGH"))
    state.apply_alert(change("b", 2, change="RESOLVED", status="RESOLVED", fired_at=T0 + 3 * day))
    figures = open_over_time(state)
    assert figures.labels == ["05-01", "05-02", "05-03", "05-04"]
    assert figures.by_severity == {"HIGH": [0, 1, 2, 1], "MEDIUM": [1, 1, 0, 0]}
    assert figures.by_rule == {"NTA_NOT_SERVED": [1, 1, 1, 1], "LOST_CONTACT": [0, 1, 1, 0]}


def test_open_over_time_folds_small_rules_into_other() -> None:
    state = ConsoleState()
    for i in range(4):
        state.apply_alert(change(f"a{i}", rule=f"RULE_{i}", fired_at=T0 + timedelta(hours=i)))
    figures = open_over_time(state, top_rules=2)
    assert list(figures.by_rule) == ["RULE_0", "RULE_1", "other"]
    assert figures.by_rule["other"][-1] == 2
    assert open_over_time(ConsoleState()).labels == []


def test_time_to_acknowledge_is_wall_clock_from_arrival_and_to_resolve_is_event_time() -> None:
    state = ConsoleState()
    arrived = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    state.apply_alert(replace(change("a"), arrived_at=arrived))
    state.apply_action(action(ActionKind.ACKNOWLEDGED, "a", at=arrived + timedelta(hours=2)))
    state.apply_action(action(ActionKind.ACKNOWLEDGED, "a", at=arrived + timedelta(hours=5)))  # not the first
    state.apply_alert(change("b", fired_at=T0))
    state.apply_alert(change("b", 2, change="RESOLVED", status="RESOLVED", fired_at=T0 + timedelta(days=4)))
    state.apply_alert(change("c", rule="STALE_CASE"))
    times = {t.rule: t for t in times_by_rule(state)}
    lost = times["LOST_CONTACT"]
    assert (lost.acknowledged, lost.ack_median_h) == (1, 2.0)
    assert (lost.resolved, lost.resolve_median_h) == (1, 96.0)
    assert times["STALE_CASE"].ack_median_h is None and times["STALE_CASE"].resolved == 0


def test_quantile() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([0.0, 10.0], 0.9) == pytest.approx(9.0)
