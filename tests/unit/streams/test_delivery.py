"""The worker's consumer hands a fetched record to its stream in one task and one turn of
the loop when the hand-over does not wait, and keeps faust's race (a rebalance gives a
waiting hand-over up) when it does. On a real event loop and faust's own consumer service."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import faust
import pytest

from ucwatch.streams.delivery import DeliveringConsumer, DeliveringTransport


class Delivery:
    """A stand-in for faust's conductor callback: records what happened to it."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.cancelled = False

    async def at_once(self, value: str) -> None:
        self.delivered.append(value)

    async def after(self, ready: asyncio.Future[str]) -> None:
        try:
            self.delivered.append(await ready)
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def after_a_turn_of_the_loop(self, value: str) -> None:
        await asyncio.sleep(0)
        self.delivered.append(value)


def run_with_consumer(scenario: Callable[[DeliveringConsumer], Awaitable[None]]) -> int:
    """Runs `scenario` against the consumer of a faust app that uses the delivering
    transport (never started: nothing here needs a broker); returns the tasks made meanwhile."""
    app = faust.App("delivery-test", broker="kafka://127.0.0.1:1", web_enabled=False, store="memory://")
    app.transport = DeliveringTransport(app.conf.broker_consumer, app)
    made = 0

    async def main() -> None:
        nonlocal made
        loop = asyncio.get_running_loop()

        def counting(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
            nonlocal made
            made += 1
            return asyncio.Task(coro, loop=loop)

        consumer = app.consumer
        assert isinstance(consumer, DeliveringConsumer)
        loop.set_task_factory(counting)  # type: ignore[arg-type]
        try:
            await scenario(consumer)
        finally:
            loop.set_task_factory(None)

    try:
        asyncio.run(main())
    finally:  # faust's consumer made two event loops (its own and its thread's) that it closes only when run
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
    return made


async def waiting_hand_over(consumer: DeliveringConsumer,
                            delivery: Delivery) -> tuple[asyncio.Future[str], asyncio.Future[None]]:
    """A hand-over started on `consumer` and still waiting, for the future returned first."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    handing = asyncio.ensure_future(consumer._deliver(delivery.after(ready)))
    await asyncio.sleep(0.01)
    assert not handing.done()
    return ready, handing


def test_a_hand_over_that_does_not_wait_is_done_in_one_task() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        for n in range(3):
            await consumer._deliver(delivery.at_once(f"r{n}"))

    assert run_with_consumer(scenario) == 3
    assert delivery.delivered == ["r0", "r1", "r2"]


def test_faust_race_made_four_tasks_per_record_for_the_same_hand_over() -> None:
    # the cost this module removes, on the same consumer: faust's own way of delivering
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        for n in range(3):
            await consumer.wait_first(delivery.at_once(f"r{n}"), consumer.suspend_flow.wait())

    assert run_with_consumer(scenario) == 12
    assert delivery.delivered == ["r0", "r1", "r2"]


def test_a_hand_over_that_waits_goes_on_once_what_it_waits_for_is_ready() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        ready, handing = await waiting_hand_over(consumer, delivery)
        assert delivery.delivered == []
        ready.set_result("r0")
        await asyncio.wait_for(handing, 1.0)

    run_with_consumer(scenario)
    assert delivery.delivered == ["r0"] and not delivery.cancelled


def test_a_hand_over_that_yields_to_the_loop_is_resumed() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        await asyncio.wait_for(consumer._deliver(delivery.after_a_turn_of_the_loop("r0")), 1.0)

    run_with_consumer(scenario)
    assert delivery.delivered == ["r0"]


def test_what_a_waiting_hand_over_fails_with_reaches_the_consumer() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        ready, handing = await waiting_hand_over(consumer, delivery)
        ready.set_exception(KeyError("the stream is gone"))
        with pytest.raises(KeyError, match="the stream is gone"):
            await asyncio.wait_for(handing, 1.0)

    run_with_consumer(scenario)
    assert delivery.delivered == []


def test_a_rebalance_gives_up_a_waiting_hand_over_as_faust_does() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        ready, handing = await waiting_hand_over(consumer, delivery)
        consumer.stop_flow()  # what faust does when the group takes partitions back
        await asyncio.wait_for(handing, 1.0)
        await asyncio.sleep(0.01)
        assert ready.cancelled()

    run_with_consumer(scenario)
    assert delivery.cancelled and delivery.delivered == []


def test_a_waiting_hand_over_is_cancelled_with_the_fetcher() -> None:
    delivery = Delivery()

    async def scenario(consumer: DeliveringConsumer) -> None:
        _, handing = await waiting_hand_over(consumer, delivery)
        handing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handing
        await asyncio.sleep(0.01)

    run_with_consumer(scenario)
    assert delivery.cancelled and delivery.delivered == []


def test_what_a_hand_over_that_does_not_wait_fails_with_reaches_the_consumer() -> None:
    async def failing() -> None:
        raise KeyError("no such channel")

    async def scenario(consumer: DeliveringConsumer) -> None:
        with pytest.raises(KeyError, match="no such channel"):
            await consumer._deliver(failing())

    run_with_consumer(scenario)
