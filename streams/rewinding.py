"""faust's aiokafka consumer, without the three ways it loses records of a partition.

aiokafka moves a partition's position past the records it hands out. faust then drops
some of them undelivered, and counts on a later seek to the committed offset to read
them again:

1. `Consumer.getmany` drops the rest of a fetch when the flow stops or the group's
   generation changes, and skips the records of a partition paused since the fetch began
   (the table's recovery pauses the stream's partitions while it reads the changelog).
2. aiokafka's `seek_to_committed` seeks only where the committed offset is above 0: a
   partition with nothing committed stays where the dropped fetch left it.
3. The recovery ends a rebalance by resuming the stream's partitions, seeking them to
   their committed offsets and then resuming the app's flow control, whose `resume()`
   empties every stream's queue (mode's `FlowControlEvent.clear`). Between the seek and
   that `resume()` the fetcher keeps delivering: a record it put in a queue in that window
   and the stream had not taken yet was thrown away, and nothing reads it again, since
   the seek is already behind it. The next record of the partition went through: a hole.

Seen on the real broker (docs/detect.md, "Records faust skipped"): a worker restarted
before its group's first commit fetched its whole partitions during the table's
recovery, dropped them, and sat at their end with nothing to do until the stall watch
ended it, again and again; and records dropped around a rebalance left holes in
children's histories (offset 17 of a partition taken over came where 16 was due, in CI),
which the detector's continuity guard (streams/continuity.py) then refused.

`RewindingConsumer` seeks a partition back to the first record it did not deliver,
unless something else moved the position since (a rebalance's own seek wins); seeks a
partition with nothing committed to its beginning, as
`consumer_auto_offset_reset="earliest"` says; and delivers no record of a committed
topic while the app is rebalancing (from the revocation until the recovery's last
`resume()`: `app.rebalancing`), reading those again instead. All three only for the
topics whose offsets faust commits, not the tables' changelogs, whose records the
recovery needs while it rebalances and whose positions it keeps itself.

`getmany` is faust-streaming 0.15.3's own (faust/transport/consumer.py) but for that
bookkeeping; faust is pinned to that version (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

Undelivered = dict[TP, tuple[int, int]]
"""partition -> (its first record not delivered, the position aiokafka left it at)"""


class RewindingConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer; see the module's docstring for what differs."""

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # faust's answer: everything back to the committed offsets
            try:
                await self.perform_seek()
            except Exception as exc:  # as faust: a partition taken back meanwhile, say; the rebalance seeks
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        committed_topic = self.app.topics.acks_enabled_for
        handed_to = {tp: batch[-1].offset + 1 for tp, batch in records.items() if batch and committed_topic(tp.topic)}
        delivered_to: dict[TP, int] = {}
        given_up: set[TP] = set()
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            if tp in given_up:
                continue
            held_back = self.app.rebalancing and committed_topic(tp.topic)  # 3. in the docstring
            if not held_back and (active_partitions is None or tp in active_partitions
                                  or tp in self._buffered_partitions):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                delivered_to[tp] = record.offset + 1
                yield tp, self._to_message(tp, record)
            else:  # paused since the fetch, or held back: none of its later records may pass either
                given_up.add(tp)
        undelivered = {tp: (delivered_to.get(tp, records[tp][0].offset), end)
                       for tp, end in handed_to.items() if delivered_to.get(tp) != end}
        if undelivered:
            await self._rewind(undelivered)

    async def _rewind(self, undelivered: Undelivered) -> None:
        try:
            await self._thread.call_thread(rewind_unmoved, self._thread._ensure_consumer(), undelivered)
        except IllegalStateError as exc:  # taken back meanwhile: the rebalance seeks it
            self.log.info("not rewound, no longer assigned: %s", exc)

    def verify_event_path(self, now: float, tp: TP) -> None:
        """faust's watch on a partition's progress (its commit livelock detector), skipped
        while aiokafka does not know where the partition is: awaiting a reset, as after a
        new assignment or a seek to its beginning while the partition has no leader. faust
        reads the position there as if it could be None, aiokafka asserts it is not, and
        the assertion crashed the worker (seen in the fault suite, one broker of three
        stopped)."""
        if position_known(self._thread._ensure_consumer(), tp):
            super().verify_event_path(now, tp)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self._thread.call_thread(  # type: ignore[no-any-return]
            seek_to_committed_or_beginning, self._thread._ensure_consumer(), self.app.topics.acks_enabled_for)


class RewindingTransport(faust_aiokafka.Transport):
    Consumer = RewindingConsumer


def position_known(consumer: AIOKafkaConsumer, tp: TP) -> bool:
    """Whether aiokafka knows the partition's position (it is assigned and not awaiting
    a reset); read where faust reads it, from the consumer's subscription state."""
    subscription = consumer._fetcher._subscriptions.subscription  # aiokafka's private state, as faust reads it
    assignment = subscription.assignment if subscription is not None else None
    state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment is not None else None
    return state is not None and bool(state.has_valid_position)


async def rewind_unmoved(consumer: AIOKafkaConsumer, undelivered: Undelivered) -> list[TP]:
    """Seeks each partition back to its first undelivered record if it is still assigned
    and still where the fetch left it; returns those it moved. Run in the consumer's
    thread, where no other seek can come between the check and the seek."""
    assigned = consumer.assignment()
    moved = []
    for tp, (first, handed_to) in undelivered.items():
        if tp in assigned and await consumer.position(tp) == handed_to:
            consumer.seek(tp, first)
            moved.append(tp)
    return moved


async def seek_to_committed_or_beginning(consumer: AIOKafkaConsumer,
                                         committed_topic: Callable[[str], bool]) -> dict[TP, Any]:
    """aiokafka's seek to the committed offsets, then, for the partitions of committed
    topics with none (or 0) committed, a seek to their beginning. Returns the committed
    offsets, as aiokafka's does."""
    committed: dict[TP, Any] = await consumer.seek_to_committed()
    unmoved = [tp for tp, offset in committed.items() if not offset and committed_topic(tp.topic)]
    if unmoved:
        await consumer.seek_to_beginning(*unmoved)
    return committed
