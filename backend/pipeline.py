"""The pipeline facade the desktop app uses: sources → bus → aggregator → store → listeners.

Threads: the *pipeline thread* runs an asyncio loop for I/O (sources and the bus);
the *worker thread* does the CPU work (parsing, aggregation, store writes and
history queries), so neither the GUI thread nor the sockets ever wait on it.
Listeners are called from those threads with typed :class:`PipelineUpdate` s; the
app's bridge turns them into Qt signals.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backend.bus.memory import NEWS, PRICES, InProcessBus, Message
from backend.model import Article, Candle, Timeframe, WatchItem
from backend.processing.aggregator import CandleAggregator
from backend.processing.archiver import Archiver
from backend.processing.late import apply_late_bars
from backend.processing.news_routing import route_news_page, routes_for
from backend.processing.snapshots import SymbolSnapshot, SnapshotBook
from backend.signals.alerts import Alert, AlertRule
from backend.signals.impact import NewsImpact
from backend.signals.processor import SignalProcessor
from backend.sources.base import Source, SourceState, SourceStatus, supervise
from backend.stores.sqlite import SqliteStore
from backend.wire.polygon import parse_frame

log = logging.getLogger(__name__)

SourceFactory = Callable[[list[WatchItem]], list[Source]]
HISTORY_LIMIT = 200_000
#: Waits between attempts at a batch whose processing raised (see Pipeline._process_with_retries).
PROCESS_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)


@dataclass(slots=True)
class PipelineUpdate:
    """What changed in one processed batch (or a periodic status tick)."""

    candles: list[Candle] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    snapshots: list[SymbolSnapshot] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    impacts: list[NewsImpact] = field(default_factory=list)  # changed news impacts (replace by .key)
    alerts: list[Alert] = field(default_factory=list)  # new alerts, oldest first
    entered_ns: int = 0  # perf_counter_ns when the oldest message of the batch entered the bus


@dataclass(slots=True, frozen=True)
class CandleSeries:
    """A symbol's candles for one timeframe as columns (for the chart)."""

    symbol: str
    timeframe: Timeframe
    start: np.ndarray  # int64 ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray

    @classmethod
    def from_rows(cls, symbol: str, timeframe: Timeframe, rows: Sequence[tuple]) -> "CandleSeries":
        cols = list(zip(*rows)) if rows else [()] * 7
        start = np.array(cols[0], dtype=np.int64)
        f = [np.array(c, dtype=np.float64) for c in cols[1:]]
        return cls(symbol, timeframe, start, *f)

    def __len__(self) -> int:
        return len(self.start)


class Pipeline:
    """Embedded pipeline: start it, feed it a watchlist, listen to it, query it."""

    mode = "embedded"

    def __init__(self, store_path: Path, watchlist: list[WatchItem], sources: SourceFactory,
                 allowed_lateness_ms: int = 15 * 60_000, archive_dir: Path | None = None,
                 hot_retention_days: int | None = None) -> None:
        """``archive_dir`` turns on the Iceberg archive; with it, the hot store keeps ``hot_retention_days``."""
        self._store_path = Path(store_path)
        self._archive_dir = archive_dir
        self._hot_retention_days = hot_retention_days
        self._archiver: Archiver | None = None
        self._watchlist = list(watchlist)
        self._source_factory = sources
        self._aggregator = CandleAggregator(allowed_lateness_ms)
        self._snapshots = SnapshotBook()
        self._news_routes: dict[str, list[WatchItem]] = {}
        self._listeners: list[Callable[[PipelineUpdate], None]] = []
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tickerwire-worker")
        self._store: SqliteStore | None = None
        self._signals: SignalProcessor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sources: list[Source] = []
        self._tasks: list[asyncio.Task] = []
        self._source_tasks: list[asyncio.Task] = []
        self._processing = False
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self.rejected_total = 0
        self._news_routes = routes_for(self._watchlist)
        self._worker.submit(self._open_store)  # first job on the worker: queries queue behind it

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store and start sources and processing; returns at once."""
        self._thread = threading.Thread(target=self._run_loop, name="tickerwire-pipeline", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the sources, process everything already on the bus, then flush and close the store."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop)
            self._thread.join(timeout + 2)
        if self._store is not None:
            self._worker.submit(self._close_store).result(timeout)
            self._store = None
        self._worker.shutdown(wait=True)
        self._stopped.set()

    def add_listener(self, listener: Callable[[PipelineUpdate], None]) -> None:
        """``listener`` is called from pipeline threads; it must hand off, not work."""
        self._listeners.append(listener)

    # -- commands (thread-safe) -----------------------------------------------------------------

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Apply a new watchlist: sources subscribe/unsubscribe, news routes change."""
        self._watchlist = list(items)
        self._worker.submit(self._set_routes, self._watchlist)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply_watchlist, self._watchlist)

    def load_candles(self, symbol: str, timeframe: Timeframe, limit: int = HISTORY_LIMIT
                     ) -> concurrent.futures.Future[CandleSeries]:
        """The newest ``limit`` candles of a symbol as columns (computed on the worker thread)."""
        return self._worker.submit(self._load_candles, symbol, timeframe, limit)

    def load_articles(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                      end_ms: int | None = None) -> concurrent.futures.Future[list[Article]]:
        return self._worker.submit(lambda: self._store.articles(start_ms, end_ms, symbols))

    def load_impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                     end_ms: int | None = None) -> concurrent.futures.Future[list[NewsImpact]]:
        """Stored news impacts of articles published in [start_ms, end_ms) (see backend.signals.processor)."""
        return self._worker.submit(lambda: self._signals.impacts.load(symbols, start_ms, end_ms))

    def load_impacts_for_article(self, article_id: str) -> concurrent.futures.Future[list[NewsImpact]]:
        return self._worker.submit(lambda: self._signals.impacts.for_article(article_id))

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_s: int | None = None
                        ) -> concurrent.futures.Future[None]:
        """Apply alert rules (validated by backend.signals.alerts.rules_from_settings) and, if given, how old
        an event may be and still alert (the ``alert_max_age_s`` setting)."""
        rules = list(rules)
        max_age_ms = None if max_age_s is None else max_age_s * 1000
        # a lambda, so that the processor is looked up on the worker, after _open_store created it
        return self._worker.submit(lambda: self._signals.set_rules(rules, max_age_ms))

    def load_snapshots(self, symbols: Sequence[str]) -> concurrent.futures.Future[list[SymbolSnapshot]]:
        return self._worker.submit(self._seed_snapshots, list(symbols))

    def statuses(self) -> list[SourceStatus]:
        return [s.status for s in self._sources]

    # -- pipeline thread ------------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._bus = InProcessBus()
        self._sources = self._source_factory(self._watchlist)
        self._source_tasks = [asyncio.create_task(supervise(s, self._bus), name=f"source:{s.name}")
                              for s in self._sources]
        self._tasks = self._source_tasks + [asyncio.create_task(self._process_forever(), name="processor"),
                                            asyncio.create_task(self._report_status(), name="status")]
        self._ready.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _shutdown(self, timeout: float) -> None:
        """Sources first; then let the processor drain the bus (nothing received is lost); then the rest."""
        for task in self._source_tasks:
            task.cancel()
        await asyncio.gather(*self._source_tasks, return_exceptions=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while (self._bus.pending() or self._processing) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self._bus.pending():
            log.warning("stopping with %d unprocessed message(s) after %.0f s", self._bus.pending(), timeout)
        for task in self._tasks:
            task.cancel()

    async def _process_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._bus.consume()
            self._processing = True
            try:
                update = await self._process_with_retries(loop, batch)
            finally:
                self._processing = False
            if update is not None:
                self._emit(update)

    async def _process_with_retries(self, loop: asyncio.AbstractEventLoop, batch: list[Message]
                                    ) -> PipelineUpdate | None:
        """Process a batch; an unexpected error (a locked or full disk, a bug) is logged and the batch
        retried with backoff — re-applying bars and articles is an upsert — so the loop never dies."""
        for attempt, delay in enumerate(PROCESS_RETRY_DELAYS_S, start=1):
            try:
                return await loop.run_in_executor(self._worker, self._process, batch, attempt > 1)
            except Exception:
                log.exception("processing a batch of %d message(s) failed (attempt %d of %d)",
                              len(batch), attempt, len(PROCESS_RETRY_DELAYS_S) + 1)
                await asyncio.sleep(delay)
        try:
            return await loop.run_in_executor(self._worker, self._process, batch, True)
        except Exception:
            log.exception("giving up on a batch of %d message(s) after %d attempts; first message: %r",
                          len(batch), len(PROCESS_RETRY_DELAYS_S) + 1, batch[0].value[:200])
            self.rejected_total += len(batch)
            return None

    async def _report_status(self) -> None:
        while True:
            self._emit(PipelineUpdate(statuses=self.statuses()))
            await asyncio.sleep(1.0)

    def _apply_watchlist(self, items: list[WatchItem]) -> None:
        for source in self._sources:
            source.set_watchlist(items)

    def _emit(self, update: PipelineUpdate) -> None:
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                log.exception("pipeline listener failed")

    # -- worker thread --------------------------------------------------------------------------

    def _open_store(self) -> None:
        self._store = SqliteStore(self._store_path)
        self._signals = SignalProcessor(self._store)
        if self._archive_dir is not None:
            self._archiver = Archiver(self._archive_dir)
            if self._archiver.enabled and self._hot_retention_days:
                cutoff = int(time.time() * 1000) - self._hot_retention_days * 86_400_000
                dropped = self._store.delete_candles_before(cutoff)
                if dropped:
                    log.info("hot store: %d candles older than %d days left to the archive",
                             dropped, self._hot_retention_days)

    def _close_store(self) -> None:
        if self._archiver is not None:
            self._archiver.close()
        self._store.close()

    def _set_routes(self, items: list[WatchItem]) -> None:
        self._news_routes = routes_for(items)

    def _process(self, batch: list[Message], retry: bool = False) -> PipelineUpdate:
        """Parse, aggregate and store one batch; never raises for bad content.

        ``retry``: the batch was applied before but its results were not stored, so every candle it
        touches is produced again (see CandleAggregator.add's ``force``)."""
        update = PipelineUpdate(entered_ns=batch[0].received_ns)
        bars = []
        articles: list[Article] = []
        for msg in batch:
            if msg.topic == PRICES:
                parsed = parse_frame(msg.value)
                bars.extend(parsed.bars)
                update.rejected.extend(parsed.rejected)
            elif msg.topic == NEWS:
                articles.extend(route_news_page(msg.value, msg.key, self._news_routes.get(msg.key, []),
                                                 update.rejected))
            else:
                update.rejected.append(f"unknown topic {msg.topic!r}")
        result = self._aggregator.add(bars, force=retry)
        candles = result.candles
        if result.late:
            candles = candles + apply_late_bars(self._store, result.late)
        self._store.upsert_candles(candles)
        if articles:
            update.articles = self._store.upsert_articles(articles)
        update.candles = candles
        update.snapshots = self._snapshots.apply(candles)
        catching_up = any(s.status.state is SourceState.STARTING for s in self._sources)
        if self._archiver is not None:
            self._archiver.add(candles, update.articles)
        update.impacts, update.alerts = self._signals.apply(candles, update.articles, live=not catching_up)
        if update.rejected:
            self.rejected_total += len(update.rejected)
            log.warning("rejected %d message(s), e.g. %s", len(update.rejected), update.rejected[0])
        return update


    def _load_candles(self, symbol: str, timeframe: Timeframe, limit: int) -> CandleSeries:
        """The hot store's newest candles; when retention trimmed it and it has fewer than asked, older ones
        from the archive."""
        rows = self._store.candle_columns(symbol, timeframe, limit=limit)
        trimmed = self._store.meta("retention_cutoff_ms") is not None  # else the store holds all there is
        if self._archiver is not None and self._archiver.enabled and trimmed and len(rows) < limit:
            end = rows[0][0] if rows else int(time.time() * 1000)
            older = self._archiver.candles_before(symbol, timeframe, end)[-(limit - len(rows)):]
            rows = [(c.start_ms, c.open, c.high, c.low, c.close, c.volume, c.vwap) for c in older] + rows
        return CandleSeries.from_rows(symbol, timeframe, rows)

    def _seed_snapshots(self, symbols: list[str]) -> list[SymbolSnapshot]:
        out = []
        for symbol in symbols:
            minutes = self._store.candles(symbol, Timeframe.M1, _recent(self._store, symbol))
            days = self._store.candles(symbol, Timeframe.D1)[-5:]
            self._snapshots.seed(symbol, minutes, days)
            out.append(self._snapshots.snapshot(symbol))
        return out


def _recent(store: SqliteStore, symbol: str) -> int | None:
    latest = store.latest_candle_start(symbol)
    return None if latest is None else latest - 60 * 60_000
