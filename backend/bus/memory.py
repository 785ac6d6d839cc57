"""In-process bus for embedded mode: a bounded queue of parsed batches on the pipeline's event loop.

Sources publish :class:`~backend.bus.base.PriceBatch` and :class:`~backend.bus.base.NewsBatch`;
the pipeline's processor drains them in groups. The bound counts items (bars and articles),
not batches, so memory stays bounded whatever the batch sizes: a full bus makes ``publish``
wait (backpressure), never drops.
"""

from __future__ import annotations

import asyncio
import collections

from backend.bus.base import Batch, BusBackpressure

#: Bars (plus articles) a consumer takes at most in one group: large enough to amortise a store commit.
DEFAULT_GROUP = 5_000
#: Items the bus holds at most before publishers wait (a few groups: the processor is never starved).
DEFAULT_CAPACITY = 50_000


class InProcessBus:
    """Bounded in-process bus; must be used from one event loop."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._batches: collections.deque[Batch] = collections.deque()
        self._items = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def publish(self, batch: Batch) -> None:
        """Enqueue, waiting while the bus is full (a batch larger than the capacity goes in alone)."""
        while self._items and self._items + batch.size > self.capacity:
            self._room.clear()
            await self._room.wait()
        self._put(batch)

    def publish_nowait(self, batch: Batch) -> None:
        """Enqueue now or raise :class:`BusBackpressure`."""
        if self._items and self._items + batch.size > self.capacity:
            raise BusBackpressure(f"in-process bus full ({self._items} of {self.capacity} items waiting)")
        self._put(batch)

    async def consume(self, max_items: int = DEFAULT_GROUP) -> list[Batch]:
        """Wait for at least one batch; return batches in arrival order holding up to ~``max_items`` items."""
        while not self._batches:
            self._arrived.clear()
            await self._arrived.wait()
        group = [self._batches.popleft()]
        items = group[0].size
        while self._batches and items < max_items:
            batch = self._batches.popleft()
            group.append(batch)
            items += batch.size
        self._items -= items
        self._room.set()
        return group

    def pending(self) -> int:
        """Batches waiting to be consumed."""
        return len(self._batches)

    def _put(self, batch: Batch) -> None:
        self._batches.append(batch)
        self._items += batch.size
        self._arrived.set()
