"""faust's Kafka transport, with each fetched record handed to its stream without the four
tasks faust makes per record.

faust's consumer delivers every record it fetched with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: a race between the
delivery and a suspension of the flow (a rebalance), so that a delivery stuck behind a full
stream buffer can be given up. Each race makes four tasks (the delivery, the suspension,
the consumer's stop and crash events), waits for the first and cancels the other three.
In one worker on the 296k replay that was about a sixth of the event loop's time
(docs/detect.md, "Performance"), though five deliveries in six do not wait at all.

`DeliveringConsumer` runs the delivery itself, up to the point where it would wait. It
usually finishes there, and nothing more is made. When it has to wait (the stream's
buffer is full), the rest of it runs in faust's race as before, so a rebalance gives it
up exactly as faust would.

`_drain_messages` is faust-streaming 0.15.3's own (faust/transport/consumer.py), with the
delivery changed only; faust is pinned to that version (pyproject.toml).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service, ServiceT

YIELD_EVERY = 100
"""records handed over between two turns given to the event loop (faust's figure)"""


class DeliveringConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer; see the module's docstring for what differs."""

    async def _deliver(self, delivery: Awaitable[Any]) -> None:
        if not isinstance(delivery, Coroutine):  # not one to run by hand: faust's race
            await self.wait_first(delivery, self.suspend_flow.wait())
            return
        try:
            waiting_for = delivery.send(None)
        except StopIteration:
            return  # delivered without waiting
        await self.wait_first(_resumed(delivery, waiting_for), self.suspend_flow.wait())

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # faust's, but for `_take`
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = cast(AsyncIterator[tuple[TP, Any]], self.getmany(timeout=1.0))
                await self.sleep(0)  # getmany may not give the loop back otherwise
                if not self.should_stop:
                    async for tp, message in fetched:
                        since_yield += 1
                        if since_yield > YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = 0
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


async def _resumed(coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> Any:
    """Goes on with a coroutine started by hand that now waits for `waiting_for` (what it
    yielded: a future, or None to be resumed at the next turn of the loop), as the task
    running it would have."""
    while True:
        try:
            if waiting_for is None:
                await asyncio.sleep(0)
            else:
                waiting_for._asyncio_future_blocking = False  # as a task does with what it is handed
                await cast(asyncio.Future[Any], waiting_for)
        except asyncio.CancelledError:
            if waiting_for is None or not waiting_for.cancelled():
                # this task was cancelled, not what the coroutine waited for: tell it so
                try:
                    waiting_for = coroutine.throw(asyncio.CancelledError())
                except StopIteration as finished:
                    return finished.value
                continue
        except BaseException:  # the coroutine's own await raises it again when resumed
            pass
        try:
            waiting_for = coroutine.send(None)
        except StopIteration as finished:
            return finished.value


class DeliveringTransport(faust_aiokafka.Transport):
    Consumer = DeliveringConsumer


def use_delivering_transport(app: faust.App) -> None:
    """Makes `app` consume through `DeliveringConsumer` (before the app starts)."""
    app.transport = DeliveringTransport(app.conf.broker_consumer, app)
