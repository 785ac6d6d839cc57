"""What every bus carries: typed batches that sources parsed at the edge, and the one Bus contract.

A source decodes what it receives exactly once — websocket frames and REST pages with the
:mod:`backend.wire` parsers, Guardian pages likewise, routed to the watchlist's symbols — and
publishes a :class:`PriceBatch` or a :class:`NewsBatch`. The embedded bus queues the batches
in process; the stack's bus encodes their records for Kafka with :mod:`backend.bus.schema`.

A batch may carry ``on_stored``: the bus's consumer calls it once, with ``True`` when the
batch's content is durable (committed to the embedded store, or acknowledged by Kafka) and
``False`` when it was given up. Sources advance their persisted marks (covered minutes, news
watermarks) only on ``True``, so a crash or a failed write leaves a gap the next start fills.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Union

from backend.model import Article, Bar

log = logging.getLogger(__name__)

StoredCallback = Callable[[bool], None]


class BusBackpressure(Exception):
    """The bus (or the producer behind it) stayed full for longer than the caller allows."""


@dataclass(slots=True)
class PriceBatch:
    """Parsed bars from one source event (a frame, a backfill page, a demo second), in arrival order."""

    bars: list[Bar]
    rejected: list[str] = field(default_factory=list)  # why parts of the input were unusable
    received_ns: int = field(default_factory=time.perf_counter_ns)  # when the input reached the source
    on_stored: StoredCallback | None = None

    @property
    def size(self) -> int:
        return len(self.bars) + len(self.rejected)


@dataclass(slots=True)
class NewsBatch:
    """Parsed articles, each already tagged with the watchlist symbols it is about (routed at the edge)."""

    articles: list[Article]
    rejected: list[str] = field(default_factory=list)
    received_ns: int = field(default_factory=time.perf_counter_ns)
    on_stored: StoredCallback | None = None

    @property
    def size(self) -> int:
        return len(self.articles) + len(self.rejected)


Batch = Union[PriceBatch, NewsBatch]


class Bus(Protocol):
    """Where sources publish. Implementations: the in-process queue and the Kafka producer."""

    async def publish(self, batch: Batch) -> None:
        """Hand over a batch, waiting while the bus is full (backpressure, never loss)."""

    def publish_nowait(self, batch: Batch) -> None:
        """Hand over a batch now or raise :class:`BusBackpressure`."""

    def pending(self) -> int:
        """Batches handed over and not yet taken by the consumer."""


def acknowledge(batches: Iterable[Batch], stored: bool) -> None:
    """Tell each batch's source whether its content is durable; a failing callback is logged, not raised."""
    for batch in batches:
        if batch.on_stored is not None:
            try:
                batch.on_stored(stored)
            except Exception:
                log.exception("a source's on_stored callback failed")
