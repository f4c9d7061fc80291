"""faust's Kafka consumer, handing each fetched record to its stream with one task instead
of the four faust makes per record.

faust's consumer delivers every record it fetched with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: a race between the
delivery and a suspension of the flow (a rebalance), so that a delivery stuck behind a full
stream buffer can be given up. Each race makes four tasks (the delivery, the suspension,
the consumer's stop and crash events), waits for the first and cancels the other three.
In one worker on the 296k replay that was about a sixth of the event loop's time
(docs/detect.md, "Performance"), for deliveries that almost never wait.

`DeliveringConsumer` starts the delivery as its own task, as faust does, and gives the loop
one turn, in which a delivery that does not wait finishes. Only one still waiting then is
raced against a suspension of the flow, as faust races every one. (Running the delivery in
place, without a task and a turn, was faster still, and lost records after a SIGKILL
more often.) faust lost records around a rebalance with either hand-over, its own
included: the recovery's closing `resume()` emptied the stream queues after its seek
(streams/rewinding.py holds records back while the app rebalances); the detector still
refuses a batch that skips any (streams/continuity.py; docs/detect.md, "Where the
records went").

`_drain_messages` is faust-streaming 0.15.3's own (faust/transport/consumer.py), with the
delivery changed only; faust is pinned to that version (pyproject.toml).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from mode import Service, ServiceT

from ucwatch.streams.rewinding import RewindingConsumer, RewindingTransport


class DeliveringConsumer(RewindingConsumer):
    """faust's aiokafka consumer with the repairs of streams/rewinding.py; see the
    module's docstring for how it delivers."""

    async def _deliver(self, delivery: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(delivery)
        await asyncio.sleep(0)
        if task.done():
            task.result()  # what the delivery raised, raised here as faust's race would
            return
        await self.wait_first(task, self.suspend_flow.wait())

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # faust's, but for `_take`
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = cast(AsyncIterator[tuple[TP, Any]], self.getmany(timeout=1.0))
                await self.sleep(0)  # getmany may not give the loop back otherwise
                if not self.should_stop:
                    async for tp, message in fetched:
                        await self._take(tp, message)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _take(self, tp: TP, message: Any) -> None:
        """faust's handling of one fetched record, delivered by `_deliver`."""
        offset = message.offset
        read = self._read_offset[tp]
        if read is not None and offset < read:
            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
            return
        if offset - (read or 0) > 1 and read and self.app.topics.acks_enabled_for(message.topic):
            await self._add_gap(tp, read + 1, offset)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        if self.suspend_flow.is_set():
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
        else:
            await self._deliver(self.callback(message))
        self._read_offset[tp] = offset


class DeliveringTransport(RewindingTransport):
    Consumer = DeliveringConsumer
