"""The pipeline's contracts: the facade the app depends on, and the parts one core is assembled from.

* :class:`Pipeline` — what the window, ``collect`` and the benchmarks use, whatever runs behind it.
* :class:`Processor` — the injected part that differs between modes: the bus the sources publish
  to, what turns their batches into candles, articles, impacts and alerts (the in-process
  aggregator and store, or Kafka + Flink + InfluxDB), and the store history is read from.
* :class:`History` — the query side of a store (hot store plus archive), read on the core's worker.
* :class:`Host` — what the core offers a processor.

:class:`backend.pipeline.core.PipelineCore` implements :class:`Pipeline` once for both modes.
"""

from __future__ import annotations

import concurrent.futures
from typing import Callable, Protocol, Sequence

from backend.bus.base import Bus
from backend.model import Article, Candle, NewsImpact, Timeframe, WatchItem
from backend.pipeline.updates import CandleSeries, PipelineUpdate
from backend.processing.snapshots import SymbolSnapshot
from backend.signals.alerts import AlertRule
from backend.sources.base import Source, SourceStatus

#: Called with the watchlist on the pipeline's loop thread; returns the sources to run.
SourceFactory = Callable[[list[WatchItem]], list[Source]]
Listener = Callable[[PipelineUpdate], None]


class Pipeline(Protocol):
    """A running pipeline, as the app sees it. Queries return futures; listeners are called on pipeline threads."""

    mode: str  # "embedded" or "stack"
    store_label: str  # which store the data comes from, for the window ("live store", "demo store", "the stack")

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def add_listener(self, listener: Listener) -> None: ...

    def set_watchlist(self, items: list[WatchItem]) -> None: ...

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_s: int | None = None
                        ) -> concurrent.futures.Future[None]: ...

    def load_candles(self, symbol: str, timeframe: Timeframe, limit: int = ...
                     ) -> concurrent.futures.Future[CandleSeries]: ...

    def load_articles(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                      end_ms: int | None = None) -> concurrent.futures.Future[list[Article]]: ...

    def load_impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                     end_ms: int | None = None) -> concurrent.futures.Future[list[NewsImpact]]: ...

    def load_impacts_for_article(self, article_id: str) -> concurrent.futures.Future[list[NewsImpact]]: ...

    def load_snapshots(self, symbols: Sequence[str]) -> concurrent.futures.Future[list[SymbolSnapshot]]: ...

    def statuses(self) -> list[SourceStatus]: ...


class History(Protocol):
    """A store's query side (hot store and, behind its retention, the archive). Worker thread only."""

    def candle_rows(self, symbol: str, timeframe: Timeframe, limit: int) -> list[tuple]:
        """The newest ``limit`` candles as ``(start, open, high, low, close, volume, vwap)``, oldest first."""

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]:
        """Candles with ``start_ms <= start < end_ms``, oldest first."""

    def latest_candle_start(self, symbol: str) -> int | None:
        """Start of the symbol's newest 1m candle."""

    def articles(self, start_ms: int | None = None, end_ms: int | None = None,
                 symbols: Sequence[str] | None = None) -> list[Article]: ...

    def impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                end_ms: int | None = None) -> list[NewsImpact]: ...

    def impacts_for_article(self, article_id: str) -> list[NewsImpact]: ...


class Host(Protocol):
    """What :class:`~backend.pipeline.core.PipelineCore` offers its processor."""

    worker: concurrent.futures.Executor  # the one thread that owns the store (processing and queries)

    def emit(self, update: PipelineUpdate) -> None:
        """Hand a processed batch to the listeners (the core adds the watchlist snapshots)."""

    def catching_up(self) -> bool:
        """True while a source is still replaying history (alerts are not raised for it)."""


class Processor(Protocol):
    """The mode-specific part of a pipeline. ``open``/``close``/``set_alert_rules`` run on the host's worker."""

    mode: str
    store_label: str
    bus: Bus
    history: History

    def open(self) -> None:
        """Open stores and restore state (worker thread, before anything else runs there)."""

    async def run(self, host: Host) -> None:
        """Process until cancelled (on the pipeline's loop thread)."""

    def busy(self) -> bool:
        """Whether published batches are still waiting or being processed (for a draining stop)."""

    def close(self) -> None:
        """Flush and close (worker thread, after ``run`` was cancelled)."""

    def statuses(self) -> list[SourceStatus]:
        """The processor's own indicators (Kafka, InfluxDB, the archive…)."""

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """React to a new watchlist (any thread)."""

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_ms: int | None) -> None:
        """Apply alert rules (worker thread)."""
