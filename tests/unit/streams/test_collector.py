"""The worker's timed garbage collection (streams/collector.py), with Python's own collector:
a cycle is freed by the next timed collection; a cycle among objects frozen by an earlier
one waits for the thawing collection; automatic collection is off while it runs, and the
event loop collects, on its own thread."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

from ucwatch.streams.collector import TimedCollector


class Node:
    def __init__(self) -> None:
        self.me = self   # a cycle: only the collector frees it


class Leaf:
    pass


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_cycle_made_since_the_last_collection_is_freed_by_the_next() -> None:
    collector = TimedCollector(thaw_every=3)
    gc.disable()
    collector.collect_once()
    node = Node()
    alive = weakref.ref(node)
    del node
    assert alive() is not None, "with automatic collection off, a cycle waits"
    assert collector.collect_once() >= 1
    assert alive() is None


def test_a_cycle_among_frozen_objects_waits_for_the_thawing_collection() -> None:
    collector = TimedCollector(thaw_every=3)
    gc.disable()
    node = Node()
    alive = weakref.ref(node)
    collector.collect_once()     # 1: node survives it, and is frozen
    del node
    collector.collect_once()     # 2: looks only at what was made since
    assert alive() is not None
    collector.collect_once()     # 3: thaws, looks at everything
    assert alive() is None


def test_a_frozen_object_in_no_cycle_is_freed_as_soon_as_nothing_holds_it() -> None:
    collector = TimedCollector(thaw_every=100)
    gc.disable()
    leaf = Leaf()
    alive = weakref.ref(leaf)
    collector.collect_once()     # leaf survives it, and is frozen
    del leaf
    assert alive() is None


def test_while_it_runs_automatic_collection_is_off_and_the_event_loop_collects_on_its_own_thread() -> None:
    collecting_threads: list[int] = []

    def note_thread(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting_threads.append(threading.get_ident())

    async def free_a_cycle(collector: TimedCollector) -> bool:
        task = asyncio.get_running_loop().create_task(collector.run())
        try:
            node = Node()
            alive = weakref.ref(node)
            del node
            deadline = time.monotonic() + 10
            while alive() is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return alive() is None
        finally:
            task.cancel()

    collector = TimedCollector(every_s=0.05)
    collector.start()
    gc.callbacks.append(note_thread)
    try:
        assert not gc.isenabled()
        assert asyncio.run(free_a_cycle(collector)), "the loop's collection did not free the cycle"
    finally:
        gc.callbacks.remove(note_thread)
        collector.stop()
    assert gc.isenabled()
    assert collecting_threads and set(collecting_threads) == {threading.get_ident()}, (
        "every collection runs on the event loop's thread, where finalizers of its objects must run")
