"""The sink's Prometheus metrics (sinks/metrics.py) and readiness, on the in-memory doubles
of tests/unit/sinks/fakes.py: rows per table, insert latency, replays after a kill."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tests.unit.sinks.fakes import FakeKafka, FakeStore, Killed
from tests.unit.sinks.test_sink import broker_for, publish_notifications, sink_settings
from ucwatch.sinks.sink import Sink


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_rows_batches_and_partitions_are_counted_as_they_land() -> None:
    settings = sink_settings()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 23)
    sink = Sink(settings, store, FakeKafka(broker))
    assert sink.ready() == (False, "waiting for the consumer group to assign partitions")
    seen: list[tuple[bool, str]] = []
    store_write = store.write

    def write_and_look(batch: object) -> object:
        seen.append(sink.ready())
        return store_write(batch)  # type: ignore[arg-type]

    store.write = write_and_look  # type: ignore[method-assign]
    sink.run(until_caught_up=True)
    registry = sink.metrics.registry
    assert sample(registry, "ucwatch_sink_rows_total", table="notifications") == 23
    assert sample(registry, "ucwatch_sink_batch_insert_seconds_count", table="notifications") == sink.stats.batches
    assert sample(registry, "ucwatch_sink_replayed_batches_total") == 0
    assert seen and all(ok for ok, _ in seen), seen  # ready while it held partitions and wrote


@pytest.mark.parametrize("kill", ["after_ledger", "after_insert"])
def test_batches_formed_again_after_a_kill_are_counted_as_replays(kill: str) -> None:
    settings = sink_settings()
    broker = broker_for(settings)
    publish_notifications(settings, broker, 30)
    store = FakeStore(**{f"kill_{kill}": 2})
    with pytest.raises(Killed):
        Sink(settings, store, FakeKafka(broker)).run(until_caught_up=True)
    sink = Sink(settings, store, FakeKafka(broker))
    sink.run(until_caught_up=True)
    replayed = sample(sink.metrics.registry, "ucwatch_sink_replayed_batches_total")
    assert replayed == sink.stats.replayed_batches >= 1
