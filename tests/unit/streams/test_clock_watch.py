"""The clock watch (streams/clock_watch.py) with injected wall and monotonic clocks: when a
partition's clock counts as stalled, that each crossing is reported once, and the
CLOCK_STALLED alert change it becomes; and the worker's gauges (streams/metrics.py)."""

from __future__ import annotations

from prometheus_client import generate_latest

from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.clock_watch import RULE, ClockWatch, Turn, stall_alert
from ucwatch.streams.metrics import DetectMetrics
from ucwatch.streams.processor import Outputs
from ucwatch.streams.records import OutputSchemas

START_S = 1_800_000_000.0  # the wall clock when the watch starts
THRESHOLD_S = 900.0


class Clocks:
    """A wall clock and a monotonic clock that move together, by hand."""

    def __init__(self) -> None:
        self.wall_s = START_S
        self.mono_s = 100.0

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.mono_s += seconds

    def watch(self, threshold_s: float = THRESHOLD_S) -> ClockWatch:
        return ClockWatch(threshold_s, wall=lambda: self.wall_s, monotonic=lambda: self.mono_s)


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def test_a_clock_carried_by_a_ticker_never_stalls() -> None:
    clocks = Clocks()
    watch = clocks.watch()
    for _ in range(120):  # two hours of a tick a minute, each a few seconds late
        clocks.advance(60)
        lags, turns = watch.observe({0: ms(clocks.wall_s - 5)})
        assert turns == [] and lags == {0: 5.0}
    assert watch.stalled() == []


def test_a_stopped_clock_stalls_once_past_the_threshold_and_recovers_once() -> None:
    clocks = Clocks()
    watch = clocks.watch()
    stopped_at = ms(clocks.wall_s)
    turns_seen = watch.observe({3: stopped_at})[1]  # the worker starts with the ticker just stopped
    for _ in range(int(THRESHOLD_S // 10)):  # up to the threshold: lagging, not yet stalled
        clocks.advance(10)
        lags, turns = watch.observe({3: stopped_at})
        turns_seen += turns
    assert turns_seen == [] and lags[3] == THRESHOLD_S
    clocks.advance(1)
    _, turns = watch.observe({3: stopped_at})
    assert turns == [Turn(3, True, stopped_at, stopped_at, THRESHOLD_S + 1)]
    assert watch.stalled() == [3]
    for _ in range(50):  # still stalled: nothing more to say
        clocks.advance(10)
        assert watch.observe({3: stopped_at})[1] == []
    clocks.advance(10)
    ticked = ms(clocks.wall_s - 2)  # the ticker is back
    _, turns = watch.observe({3: ticked})
    assert turns == [Turn(3, False, ticked, stopped_at, 2.0)]
    assert watch.stalled() == []
    clocks.advance(10)
    assert watch.observe({3: ticked + 10_000})[1] == []


def test_a_replay_far_behind_but_moving_is_not_stalled_until_it_stops() -> None:
    clocks = Clocks()
    watch = clocks.watch()
    history_ms = ms(START_S - 3 * 365 * 86400)  # three years behind
    for _ in range(300):  # the clock moves with every batch of the replay
        clocks.advance(5)
        history_ms += 3_600_000
        lags, turns = watch.observe({0: history_ms})
        assert turns == []
    assert lags[0] > THRESHOLD_S
    clocks.advance(THRESHOLD_S + 1)  # the replay is done and no ticker carries the clock on
    _, turns = watch.observe({0: history_ms})
    assert [t.stalled for t in turns] == [True]


def test_a_clock_moving_but_still_behind_stays_stalled() -> None:
    clocks = Clocks()
    watch = clocks.watch()
    behind = ms(START_S - 10_000)
    clocks.advance(THRESHOLD_S + 1)
    assert [t.stalled for t in watch.observe({1: behind})[1]] == []  # first seen now: moved_at starts now
    clocks.advance(THRESHOLD_S + 1)
    assert [t.stalled for t in watch.observe({1: behind})[1]] == [True]
    clocks.advance(10)
    assert watch.observe({1: behind + 60_000})[1] == []  # an old event moved it a minute: still far behind
    assert watch.stalled() == [1]


def test_each_partition_is_watched_alone_and_one_given_away_is_forgotten() -> None:
    clocks = Clocks()
    watch = clocks.watch()
    frozen = ms(clocks.wall_s)
    watch.observe({0: frozen, 1: frozen})
    clocks.advance(THRESHOLD_S + 1)
    _, turns = watch.observe({0: frozen, 1: ms(clocks.wall_s)})
    assert [(t.partition, t.stalled) for t in turns] == [(0, True)]
    lags, turns = watch.observe({1: ms(clocks.wall_s)})  # partition 0 went to another worker
    assert turns == [] and list(lags) == [1] and watch.stalled() == []


def test_a_threshold_of_zero_turns_the_watch_off_but_not_the_lag() -> None:
    clocks = Clocks()
    watch = clocks.watch(threshold_s=0)
    clocks.advance(10 * THRESHOLD_S)
    lags, turns = watch.observe({0: ms(START_S)})
    assert turns == [] and lags == {0: 10 * THRESHOLD_S}


def test_the_stall_alert_is_a_valid_alert_change_with_a_repeatable_id() -> None:
    catalog = default_catalog()
    registry = EmbeddedRegistry(catalog)
    encoder, decoder = Encoder(registry, "alerts"), Decoder(registry, catalog)
    schema = OutputSchemas(catalog).alert
    stalled = Turn(4, True, ms(START_S), ms(START_S), 1000.0)
    key, opened = stall_alert(stalled, "ucwatch.lifecycle", THRESHOLD_S, ms(START_S + 1000))
    again_key, again = stall_alert(stalled, "ucwatch.lifecycle", THRESHOLD_S, ms(START_S + 5000))  # after a restart
    _, resolved = stall_alert(Turn(4, False, ms(START_S + 2000), ms(START_S), 3.0), "ucwatch.lifecycle",
                              THRESHOLD_S, ms(START_S + 2003))
    assert key == again_key == "clock:ucwatch.lifecycle/4"
    assert opened["alert_id"] == again["alert_id"] == resolved["alert_id"]
    assert (opened["rule"], opened["change"], opened["status"], opened["severity"], opened["sequence"]) == \
        (RULE, "OPENED", "OPEN", "CRITICAL", 1)
    assert (resolved["change"], resolved["status"], resolved["sequence"]) == ("RESOLVED", "RESOLVED", 2)
    assert "partition 4 stalled" in opened["reason"] and "ticker" in opened["reason"]
    decoded = decoder.decode(encoder.encode(schema, opened))
    assert decoded["alert_id"] == opened["alert_id"] and decoded["child_id"] == key


def test_the_worker_gauges_follow_the_partitions_held() -> None:
    metrics = DetectMetrics()
    metrics.clocks({0: ms(START_S), 1: ms(START_S - 60)}, {0: 5.0, 1: 65.0}, stalled=[1])
    metrics.clocks({1: ms(START_S)}, {1: 5.0}, stalled=[])
    text = generate_latest(metrics.registry).decode()
    assert 'ucwatch_clock_lag_seconds{partition="1"} 5.0' in text
    assert 'ucwatch_clock_stalled{partition="1"} 0.0' in text
    assert 'ucwatch_clock_seconds{partition="1"} 1.8e+09' in text
    assert 'partition="0"' not in text
    assert "ucwatch_detect_partitions 1.0" in text


def test_a_batch_counts_records_by_kind_alerts_by_rule_and_notices_by_recipient() -> None:
    metrics = DetectMetrics()
    outputs = Outputs(alerts=[("c1", {"rule": "LOST_CONTACT", "change": "OPENED"}),
                              ("c2", {"rule": "LOST_CONTACT", "change": "RESOLVED"})],
                      notifications=[("c1", {"recipient": "ICE", "kind": "FAILURE_TO_APPEAR"})])
    metrics.batch(records=10, ticks=2, dead_letters=1, outputs=outputs, seconds=0.02)
    text = generate_latest(metrics.registry).decode()
    for line in ('ucwatch_detect_records_total{kind="event"} 7.0', 'ucwatch_detect_records_total{kind="tick"} 2.0',
                 'ucwatch_detect_records_total{kind="dead_letter"} 1.0',
                 'ucwatch_detect_alerts_total{change="OPENED",rule="LOST_CONTACT"} 1.0',
                 'ucwatch_detect_alerts_total{change="RESOLVED",rule="LOST_CONTACT"} 1.0',
                 'ucwatch_detect_notifications_total{kind="FAILURE_TO_APPEAR",recipient="ICE"} 1.0',
                 "ucwatch_detect_batch_seconds_count 1.0"):
        assert line in text, line
