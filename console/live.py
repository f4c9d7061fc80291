"""Live updates: what the feed thread learns, passed to every open Server-Sent Events stream.

The feed runs in its own thread, the streams in the server's event loop, so `publish`
hands each change to the loop with `call_soon_threadsafe`. A stream's queue is bounded; a
browser that falls that far behind loses messages, not correctness, since each message
only tells the page to fetch the queue again (the page always shows the state, never
patches it from messages). `close` ends every stream, so the server can stop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

QUEUE_SIZE = 1000
HEARTBEAT_S = 15.0
RECONNECT_MS = 2000
_CLOSED = None


class Broadcaster:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None]]] = set()
        self.dropped = 0
        """Messages a full stream did not take (shown by nothing yet; see the module docstring)."""

    def publish(self, message: dict[str, Any]) -> None:
        """From any thread: queue `message` for every open stream."""
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(self._offer, queue, message)

    def close(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(self._offer, queue, _CLOSED)

    def _offer(self, queue: asyncio.Queue[dict[str, Any] | None], message: dict[str, Any] | None) -> None:
        """In the stream's loop: queue the message, or count it dropped when the queue is full."""
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subscribers)

    async def stream(self) -> AsyncIterator[str]:
        """One browser's stream, as SSE text: a reconnect delay, then messages and heartbeats."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        subscriber = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers.add(subscriber)
        try:
            yield f"retry: {RECONNECT_MS}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if message is _CLOSED:
                    return
                yield f"event: {message.get('kind', 'message')}\ndata: {json.dumps(message)}\n\n"
        finally:
            with self._lock:
                self._subscribers.discard(subscriber)

