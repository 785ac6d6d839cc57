"""In-process bus for embedded mode: one bounded asyncio queue carrying both topics.

Sources publish raw wire-format payloads; the pipeline's processor drains them in
batches. A full queue makes ``publish`` wait (backpressure), never drops.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

PRICES = "stock-prices"
NEWS = "news-articles"


class BusBackpressure(Exception):
    """The bus is full and the caller asked not to wait."""


@dataclass(slots=True, frozen=True)
class Message:
    """A payload on a topic. ``key`` is the symbol/feed (prices) or the watch query (news)."""

    topic: str
    key: str
    value: str | bytes
    received_ns: int


class InProcessBus:
    """Bounded in-process bus; must be used from one event loop."""

    def __init__(self, maxsize: int = 200_000) -> None:
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)

    async def publish(self, topic: str, key: str, value: str | bytes) -> None:
        """Enqueue, waiting while the bus is full."""
        await self._queue.put(Message(topic, key, value, time.perf_counter_ns()))

    def publish_nowait(self, topic: str, key: str, value: str | bytes) -> None:
        """Enqueue now or raise :class:`BusBackpressure`."""
        try:
            self._queue.put_nowait(Message(topic, key, value, time.perf_counter_ns()))
        except asyncio.QueueFull:
            raise BusBackpressure(f"in-process bus full ({self._queue.maxsize} messages)") from None

    async def consume(self, max_batch: int = 5_000) -> list[Message]:
        """Wait for at least one message; return up to ``max_batch`` in arrival order."""
        batch = [await self._queue.get()]
        queue = self._queue
        while len(batch) < max_batch and not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    def pending(self) -> int:
        return self._queue.qsize()
