"""In-process bus for embedded mode: one bounded asyncio queue of parsed batches.

Sources publish :class:`~backend.bus.base.PriceBatch` and :class:`~backend.bus.base.NewsBatch`;
the pipeline's processor drains them in groups. A full queue makes ``publish`` wait
(backpressure), never drops.
"""

from __future__ import annotations

import asyncio

from backend.bus.base import Batch, BusBackpressure

#: Bars (plus articles) a consumer takes at most in one group: large enough to amortise a store commit.
DEFAULT_GROUP = 5_000


class InProcessBus:
    """Bounded in-process bus; must be used from one event loop."""

    def __init__(self, maxsize: int = 20_000) -> None:
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize)

    async def publish(self, batch: Batch) -> None:
        """Enqueue, waiting while the bus is full."""
        await self._queue.put(batch)

    def publish_nowait(self, batch: Batch) -> None:
        """Enqueue now or raise :class:`BusBackpressure`."""
        try:
            self._queue.put_nowait(batch)
        except asyncio.QueueFull:
            raise BusBackpressure(f"in-process bus full ({self._queue.maxsize} batches)") from None

    async def consume(self, max_items: int = DEFAULT_GROUP) -> list[Batch]:
        """Wait for at least one batch; return batches in arrival order holding up to ~``max_items`` items."""
        first = await self._queue.get()
        group, items = [first], first.size
        queue = self._queue
        while items < max_items and not queue.empty():
            batch = queue.get_nowait()
            group.append(batch)
            items += batch.size
        return group

    def pending(self) -> int:
        return self._queue.qsize()
