"""The sink's loop on in-memory doubles (tests/unit/sinks/fakes.py): its commit order, its
replay after a kill at each point of the write cycle, and its behaviour when a commit is
refused, ClickHouse is down, or a dead letter is not acknowledged. No Kafka, no ClickHouse.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import KafkaError

from tests.unit.sinks.fakes import FakeBroker, FakeKafka, FakeStore, Killed
from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import Settings, SinkSettings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder
from ucwatch.sinks.rows import topic_targets
from ucwatch.sinks.sink import Sink

CATALOG = default_catalog()
T0 = datetime(2021, 3, 1, tzinfo=UTC)


def sink_settings(batch_rows: int = 4) -> Settings:
    return dataclasses.replace(Settings(), sink=SinkSettings(batch_rows=batch_rows, batch_seconds=0.05))


def broker_for(settings: Settings) -> FakeBroker:
    """A broker with the landed topics, as many partitions each as configured."""
    partitions = {topic.name: topic.partitions for topic in settings.topics.all()}
    return FakeBroker({name: partitions[name] for name in topic_targets(settings)})


def publish_notifications(settings: Settings, broker: FakeBroker, count: int, partitions: int = 3) -> None:
    topic = settings.topics.notifications.name
    encoder = Encoder(EmbeddedRegistry(CATALOG), topic)
    schema = CATALOG.latest("NotificationSent", "notifications")
    for i in range(count):
        child = f"SYN-CH-{i:09d}"
        value = encoder.encode(schema, {
            "notification_id": f"N-{i}", "child_id": child, "recipient": "HHS", "kind": "FAILURE_TO_APPEAR",
            "fact_id": f"F-{i}", "occurred_at": T0 + timedelta(hours=i), "reason": "r", "synthetic": True})
        broker.produce(topic, i % partitions, value, child.encode())


def expected(settings: Settings, broker: FakeBroker) -> list[tuple[int, int]]:
    topic = settings.topics.notifications.name
    return sorted((p, offset) for (t, p), records in broker.records.items() if t == topic for offset in records)


def ends(broker: FakeBroker, topic: str) -> dict[tuple[str, int], int]:
    return {key: end for key, end in broker.ends.items() if key[0] == topic}


def run(settings: Settings, store: FakeStore, kafka: FakeKafka) -> Sink:
    sink = Sink(settings, store, kafka)
    sink.run(until_caught_up=True)
    return sink


def test_every_record_lands_once_and_is_committed_after_its_rows() -> None:
    settings = sink_settings()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 23)
    sink = run(settings, store, FakeKafka(broker))
    assert store.landed("notifications") == expected(settings, broker)
    topic = settings.topics.notifications.name
    assert {k: v for k, v in broker.committed.items() if k[0] == topic} == ends(broker, topic)
    assert sink.stats.rows == {"notifications": 23} and sink.stats.replayed_batches == 0
    # every commit names offsets whose rows were inserted before it was sent
    for commit in broker.commits:
        for (t, p), offset in commit.items():
            assert all((p, o) in store.landed("notifications") for o in range(offset) if
                       o in broker.records[(t, p)])


@pytest.mark.parametrize("kill", ["after_ledger", "after_insert"])
@pytest.mark.parametrize("at", [1, 2, 3])
def test_killed_in_the_write_cycle_the_restart_lands_each_record_once(kill: str, at: int) -> None:
    settings = sink_settings()
    broker = broker_for(settings)
    publish_notifications(settings, broker, 30)
    store = FakeStore(**{f"kill_{kill}": at})
    with pytest.raises(Killed):
        Sink(settings, store, FakeKafka(broker)).run(until_caught_up=True)
    ledgered = list(store.ledger)
    sink = run(settings, store, FakeKafka(broker))
    assert store.landed("notifications") == expected(settings, broker)  # none missing, none twice
    assert sink.stats.replayed_batches >= 1
    # the batch in doubt was formed again exactly: no ledger entry overlaps another
    for topic, partition, first, last, _ in ledgered:
        overlapping = [e for e in store.ledger if e[:2] == (topic, partition) and e[2] <= last and e[3] >= first]
        assert [(e[2], e[3]) for e in overlapping] == [(first, last)]


def test_a_commit_refused_for_a_lost_membership_is_not_retried_and_the_sink_rejoins() -> None:
    """The broker-restart failure: the commit got UNKNOWN_MEMBER_ID. It is dropped (not sent
    again with the stale membership); the consumer keeps polling, is assigned again, and
    the ledger makes the re-landing idempotent."""
    settings = sink_settings()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 12)
    broker.commit_errors = [KafkaError.UNKNOWN_MEMBER_ID]
    kafka = FakeKafka(broker)
    sink = Sink(settings, store, kafka)
    refused = threading.Event()

    def lose_after_the_refusal() -> None:
        while not broker.commits:
            time.sleep(0.01)
        refused.set()
        kafka.consumers[0].lose_assignment()

    helper = threading.Thread(target=lose_after_the_refusal)
    helper.start()
    stats = sink.run(until_caught_up=True)
    helper.join()
    assert refused.is_set() and stats.commits_dropped == 1
    assert store.landed("notifications") == expected(settings, broker)
    topic = settings.topics.notifications.name
    assert {k: v for k, v in broker.committed.items() if k[0] == topic} == ends(broker, topic)
    # the refused commit was the only one sent by the stale membership (generation 1)
    assert broker.commit_generations.count(1) == 1 and set(broker.commit_generations[1:]) == {2}


def landing_until_caught_up(sink: Sink) -> threading.Thread:
    runner = threading.Thread(target=lambda: sink.run(until_caught_up=True), daemon=True)
    runner.start()
    return runner


def rejoining_soon() -> Settings:
    """A consumer the group leaves without partitions is replaced after 0.3 s, not 30."""
    return dataclasses.replace(sink_settings(), sink=SinkSettings(batch_rows=4, batch_seconds=0.05,
                                                                  rejoin_wait_s=0.3))


def test_a_consumer_that_fails_for_good_is_replaced_and_every_record_lands_once() -> None:
    """Seen under load after a broker restart: a static member fenced by its own rejoin. The
    fatal error arrives as a record whose code is _FATAL (its fatal() flag unset); the sink
    went silent for good. It must start a new consumer and land the rest exactly once."""
    settings = sink_settings()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 12)
    kafka = FakeKafka(broker)
    kafka.first_consumer_fails_at_poll = 1  # right after its assignment, before anything landed
    runner = landing_until_caught_up(Sink(settings, store, kafka))
    runner.join(timeout=30)
    assert not runner.is_alive(), "the sink went silent after the fatal error"
    assert len(kafka.consumers) == 2 and kafka.consumers[0].closed
    assert store.landed("notifications") == expected(settings, broker)


def test_a_consumer_the_group_never_assigns_again_is_replaced_and_every_record_lands_once() -> None:
    """Seen after a broker restart (librdkafka #3437): a static member's session expired and
    the consumer never joined again, without any error, so the sink held nothing for good."""
    settings = rejoining_soon()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 40)
    kafka = FakeKafka(broker)
    kafka.first_consumer_lost_for_good_at_poll = 3  # after a batch landed
    runner = landing_until_caught_up(Sink(settings, store, kafka))
    runner.join(timeout=30)
    assert not runner.is_alive(), "the sink stayed without partitions"
    assert len(kafka.consumers) == 2 and kafka.consumers[0].closed and broker.metadata_requests >= 1
    assert store.landed("notifications") == expected(settings, broker)
    topic = settings.topics.notifications.name
    assert {k: v for k, v in broker.committed.items() if k[0] == topic} == ends(broker, topic)


def test_while_kafka_does_not_answer_a_consumer_without_partitions_is_kept() -> None:
    """No rejoin can complete while the broker is down, so replacing the consumer would only
    churn: it is replaced once Kafka has answered for the whole wait and still nothing came."""
    settings = rejoining_soon()
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 12)
    broker.answering = False
    kafka = FakeKafka(broker)
    kafka.first_consumer_lost_for_good_at_poll = 3
    runner = landing_until_caught_up(Sink(settings, store, kafka))
    deadline = time.monotonic() + 10
    while broker.metadata_requests < 3:  # asked at least three times, each time no answer
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(kafka.consumers) == 1
    broker.answering = True
    runner.join(timeout=30)
    assert not runner.is_alive(), "the sink stayed without partitions after Kafka answered"
    assert len(kafka.consumers) == 2
    assert store.landed("notifications") == expected(settings, broker)


@pytest.mark.parametrize("wait_s", [0.0, -1.0])
def test_a_rejoin_wait_of_no_time_is_refused_as_a_setting(wait_s: float) -> None:
    settings = dataclasses.replace(sink_settings(), sink=SinkSettings(rejoin_wait_s=wait_s))
    with pytest.raises(SettingsError, match=r"sink\.rejoin_wait_s must be more than 0 s"):
        Sink(settings, FakeStore(), FakeKafka(broker_for(settings)))


def test_after_a_refused_commit_nothing_is_committed_until_assigned_again() -> None:
    settings = sink_settings(batch_rows=2)
    broker, store = broker_for(settings), FakeStore()
    publish_notifications(settings, broker, 12)
    broker.commit_errors = [KafkaError.ILLEGAL_GENERATION]
    kafka = FakeKafka(broker)
    sink = Sink(settings, store, kafka)
    stop_after = threading.Timer(1.0, sink.stop)
    stop_after.start()
    sink.run()
    stop_after.cancel()
    # one commit was sent, refused; the membership is stale, so no other was sent
    assert len(broker.commits) == 1 and broker.committed == {}
    assert store.landed("notifications") == expected(settings, broker)


def test_while_clickhouse_is_down_nothing_is_committed_and_a_stop_returns_at_once() -> None:
    settings = dataclasses.replace(sink_settings(), sink=SinkSettings(batch_rows=4, batch_seconds=0.05,
                                                                      retry_max_s=0.2))
    broker, store = broker_for(settings), FakeStore(down=True)
    publish_notifications(settings, broker, 10)
    sink = Sink(settings, store, FakeKafka(broker))
    runner = threading.Thread(target=sink.run)
    runner.start()
    deadline = time.monotonic() + 5
    while store.attempts < 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stopping = time.monotonic()
    sink.stop()
    runner.join(5)
    assert not runner.is_alive() and time.monotonic() - stopping < 2
    assert broker.commits == [] and store.rows == {}
    # ClickHouse back: everything lands
    store.down = False
    run(settings, store, FakeKafka(broker))
    assert store.landed("notifications") == expected(settings, broker)


def test_no_offset_passes_a_dead_letter_kafka_has_not_acknowledged() -> None:
    settings = sink_settings()
    broker, store = broker_for(settings), FakeStore()
    topic = settings.topics.notifications.name
    broker.produce(topic, 0, b"\x00\x00\x00\x00\x07garbage", b"SYN-CH-000000001")
    publish_notifications(settings, broker, 6, partitions=1)
    kafka = FakeKafka(broker)
    kafka.producer.down = True
    sink = Sink(settings, store, kafka)
    stop_after = threading.Timer(0.8, sink.stop)
    stop_after.start()
    sink.run()
    stop_after.cancel()
    assert store.landed("notifications") == [(0, o) for o in range(1, 7)]  # the rows are written...
    assert (topic, 0) not in broker.committed                          # ...but not committed
    kafka = FakeKafka(broker)
    sink = run(settings, store, kafka)
    assert broker.committed[(topic, 0)] == 7 and sink.stats.dead_lettered == 1
    assert len(broker.deadletters) == 1 and b'"origin": "' + f"{topic}:0:0".encode() in broker.deadletters[0]


def test_a_compacted_range_in_doubt_is_written_under_its_own_token() -> None:
    """CONTAINS after a restart: the head of a ledgered range was compacted away."""
    settings = sink_settings()
    broker = broker_for(settings)
    publish_notifications(settings, broker, 8, partitions=1)
    store = FakeStore(kill_after_ledger=1)
    with pytest.raises(Killed):
        Sink(settings, store, FakeKafka(broker)).run(until_caught_up=True)
    topic = settings.topics.notifications.name
    (_, _, first, _, token), = store.ledger
    broker.compact(topic, 0, [first])
    run(settings, store, FakeKafka(broker))
    assert token in store.tokens
    assert store.landed("notifications") == [(0, o) for o in range(8) if o != first]
