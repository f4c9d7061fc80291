"""Which fetched records the worker's consumer delivers, and which it has read again:
faust's `getmany` bookkeeping with the rewind added, on a faust app's real consumer (not
started: the fetch is given, and the rewind, which needs the broker, is recorded; it is
tested on the real broker in tests/integration/test_rewinding.py)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from ucwatch.streams.rewinding import RewindingConsumer, RewindingTransport, Undelivered

LIFECYCLE, CHANGELOG = "lifecycle", "app-children-changelog"
P0, P1, LOG0 = TP(LIFECYCLE, 0), TP(LIFECYCLE, 1), TP(CHANGELOG, 0)


def fetched(tp: TP, offsets: range) -> list[ConsumerRecord]:
    return [ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, []) for offset in offsets]


class Fetch:
    """One `getmany` of a consumer over `records`; `on_delivery` runs after each record is
    delivered (as faust's hand-over would, before the next one is taken)."""

    def __init__(self, records: dict[TP, list[ConsumerRecord]], active: set[TP],
                 on_delivery: Callable[[RewindingConsumer, TP, int], None] = lambda consumer, tp, offset: None,
                 *, rebalancing: bool = False) -> None:
        self.records, self.active, self.on_delivery = records, active, on_delivery
        self.rebalancing = rebalancing
        self.delivered: list[tuple[TP, int]] = []
        self.rewound: Undelivered = {}

    def run(self) -> None:
        app = faust.App("rewinding-test", broker="kafka://127.0.0.1:1", web_enabled=False, store="memory://")
        app.transport = RewindingTransport(app.conf.broker_consumer, app)
        consumer = app.consumer
        assert isinstance(consumer, RewindingConsumer)
        app.topics._acking_topics.add(LIFECYCLE)   # the agent's topic; the changelog is not acked
        app.rebalancing = self.rebalancing
        fetch = self

        async def next_records(timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
            return fetch.records, fetch.active

        async def rewind(undelivered: Undelivered) -> None:
            fetch.rewound = undelivered

        consumer._wait_next_records = next_records  # type: ignore[method-assign]
        consumer._rewind = rewind  # type: ignore[method-assign]
        consumer.highwater = lambda tp: 0  # type: ignore[method-assign]  # asks the broker otherwise

        async def main() -> None:
            consumer.resume_flow()
            async for tp, message in consumer.getmany(timeout=1.0):
                self.delivered.append((tp, message.offset))
                self.on_delivery(consumer, tp, message.offset)

        try:
            asyncio.run(main())
        finally:  # faust's consumer made event loops it closes only when run
            for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
                if not loop.is_running() and not loop.is_closed():
                    loop.close()


def test_a_fetch_delivered_whole_is_not_rewound() -> None:
    fetch = Fetch({P0: fetched(P0, range(0, 3)), P1: fetched(P1, range(5, 7))}, {P0, P1})
    fetch.run()
    assert sorted(fetch.delivered) == [(P0, 0), (P0, 1), (P0, 2), (P1, 5), (P1, 6)]
    assert fetch.rewound == {}


def test_a_partition_paused_during_the_fetch_is_read_again_from_its_first_undelivered_record() -> None:
    def pause_p0_after_its_first(consumer: RewindingConsumer, tp: TP, offset: int) -> None:
        if tp == P0:
            fetch.active.discard(P0)   # what the table's recovery does to the stream's partitions

    fetch = Fetch({P0: fetched(P0, range(10, 14)), P1: fetched(P1, range(0, 3))}, {P0, P1}, pause_p0_after_its_first)
    fetch.run()
    assert [offset for tp, offset in fetch.delivered if tp == P0] == [10]
    assert [offset for tp, offset in fetch.delivered if tp == P1] == [0, 1, 2]
    assert fetch.rewound == {P0: (11, 14)}


def test_a_partition_resumed_during_the_fetch_delivers_nothing_after_the_records_it_skipped() -> None:
    def pause_then_resume(consumer: RewindingConsumer, tp: TP, offset: int) -> None:
        if (tp, offset) == (P0, 10):
            fetch.active.discard(P0)
        elif (tp, offset) == (P1, 1):
            fetch.active.add(P0)   # back before the fetch's next record of P0: too late for it

    fetch = Fetch({P0: fetched(P0, range(10, 14)), P1: fetched(P1, range(0, 4))}, {P0, P1}, pause_then_resume)
    fetch.run()
    assert [offset for tp, offset in fetch.delivered if tp == P0] == [10]
    assert fetch.rewound == {P0: (11, 14)}


def test_a_flow_stopped_during_the_fetch_rewinds_each_partition_to_what_it_did_not_deliver() -> None:
    def stop_after_two(consumer: RewindingConsumer, tp: TP, offset: int) -> None:
        if len(fetch.delivered) == 2:
            consumer.stop_flow()   # a rebalance began

    fetch = Fetch({P0: fetched(P0, range(0, 3)), P1: fetched(P1, range(7, 9))}, {P0, P1}, stop_after_two)
    fetch.run()
    assert fetch.delivered == [(P0, 0), (P1, 7)]
    assert fetch.rewound == {P0: (1, 3), P1: (8, 9)}


def test_a_partition_never_reached_is_rewound_to_its_first_record_and_changelogs_are_not() -> None:
    def stop_at_once(consumer: RewindingConsumer, tp: TP, offset: int) -> None:
        consumer.stop_flow()

    fetch = Fetch({P0: fetched(P0, range(0, 2)), LOG0: fetched(LOG0, range(3, 5)), P1: fetched(P1, range(4, 6))},
                  {P0, P1, LOG0}, stop_at_once)
    fetch.run()
    assert len(fetch.delivered) == 1
    first = fetch.delivered[0][0]
    assert LOG0 not in fetch.rewound and first != LOG0
    other = P1 if first == P0 else P0
    assert fetch.rewound[other] == (fetch.records[other][0].offset, fetch.records[other][-1].offset + 1)


def test_faust_empties_the_streams_queues_when_a_rebalance_resumes_the_flow() -> None:
    """Why nothing of a committed topic may be delivered while the app rebalances: what a
    stream had not taken from its queue by then is thrown away, after the seek that would
    have read it again."""
    app = faust.App("rewinding-test", broker="kafka://127.0.0.1:1", web_enabled=False, store="memory://")
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)   # as faust's channels make theirs
    queue.put_nowait("offset 16")
    app.flow_control.resume()   # the recovery's last step
    assert queue.empty()


def test_while_the_app_rebalances_a_committed_topics_records_are_read_again_and_a_changelogs_delivered() -> None:
    fetch = Fetch({P0: fetched(P0, range(16, 19)), LOG0: fetched(LOG0, range(3, 5))}, {P0, LOG0}, rebalancing=True)
    fetch.run()
    assert fetch.delivered == [(LOG0, 3), (LOG0, 4)]   # the table's recovery reads its changelog meanwhile
    assert fetch.rewound == {P0: (16, 19)}


def end_the_rebalance(consumer: RewindingConsumer, tp: TP, offset: int) -> None:
    consumer.app.rebalancing = False   # the recovery's last step, after a record was delivered


def test_a_rebalance_that_ends_during_a_fetch_holds_back_the_rest_of_a_partition_it_held_back() -> None:
    # P0's first record comes before the changelog's (the fetch is taken partition by partition, in turn)
    fetch = Fetch({P0: fetched(P0, range(16, 19)), LOG0: fetched(LOG0, range(3, 5))}, {P0, LOG0},
                  end_the_rebalance, rebalancing=True)
    fetch.run()
    assert fetch.delivered == [(LOG0, 3), (LOG0, 4)]
    assert fetch.rewound == {P0: (16, 19)}   # read again whole, not from 17


def test_a_rebalance_that_ends_before_a_partitions_turn_delivers_it() -> None:
    fetch = Fetch({LOG0: fetched(LOG0, range(3, 5)), P0: fetched(P0, range(16, 19))}, {P0, LOG0},
                  end_the_rebalance, rebalancing=True)
    fetch.run()
    assert [offset for tp, offset in fetch.delivered if tp == P0] == [16, 17, 18]
    assert fetch.rewound == {}
