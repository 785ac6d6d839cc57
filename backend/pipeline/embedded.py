"""The embedded processor: the in-process bus, the candle aggregator and the SQLite store (plus the archive).

Per group of batches taken from the bus, on the core's worker thread and in one store
transaction: aggregate the bars (roll-ups always the fold of every stored child — the
aggregator loads a day's stored minutes the first time it meets that day), apply bars for
days memory no longer holds against the store by the same rules, upsert candles, second bars
and articles, update news impacts and check alert rules. Only after the commit are the
batches acknowledged to their sources (whose covered marks and watermarks then advance) and
the results handed to the listeners. A group whose processing keeps failing is retried with
backoff, then given up: its sources record the gap and fetch it again next start.

Every hour (and at start) the hot store is trimmed to ``hot_retention_days`` — only what the
archive confirms holding (:mod:`backend.processing.retention`) — and second bars no later bar
can merge with are pruned.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path
from typing import Sequence

from backend.bus.base import Batch, PriceBatch, acknowledge
from backend.bus.memory import InProcessBus
from backend.model import Article, Candle, NewsImpact, Timeframe, WatchItem
from backend.pipeline.contract import Host
from backend.pipeline.updates import PipelineUpdate
from backend.processing.aggregator import DEFAULT_ALLOWED_LATENESS_MS, CandleAggregator
from backend.processing.archiver import Archiver
from backend.processing.late import StoreDayHistory, apply_late_bars
from backend.processing.retention import HotStoreRetention
from backend.signals.alerts import AlertRule
from backend.signals.impact_store import ImpactStore
from backend.signals.processor import SignalProcessor
from backend.sources.base import SourceState, SourceStatus, StatusTracker
from backend.stores.sqlite import SqliteStore
from backend.timeutil import DAY_MS

log = logging.getLogger(__name__)

#: Waits between attempts at a group whose processing raised (a locked or full disk, a bug).
PROCESS_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
MAINTENANCE_INTERVAL_S = 3600.0


@functools.cache
def _say_the_compiled_core_is_missing() -> None:
    log.warning("the aggregator's compiled core is not built (no C compiler when the app was installed): "
                "the embedded pipeline ingests at about three quarters of its speed; reinstall with gcc to build it")


class StoreHistory:
    """History queries on the SQLite store, with the archive behind the hot store's retention (worker thread)."""

    def __init__(self, store: SqliteStore, impacts: ImpactStore, archiver: Archiver | None) -> None:
        self._store = store
        self._impacts = impacts
        self._archiver = archiver

    def candle_rows(self, symbol: str, timeframe: Timeframe, limit: int) -> list[tuple]:
        rows = self._store.candle_columns(symbol, timeframe, limit=limit)
        trimmed = self._store.meta("retention_cutoff_ms") is not None  # else the store holds all there is
        if self._archiver is not None and trimmed:
            rows = self._archiver.top_up(rows, symbol, timeframe, limit)
        return rows

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]:
        return self._store.candles(symbol, timeframe, start_ms, end_ms)

    def latest_candle_start(self, symbol: str) -> int | None:
        return self._store.latest_candle_start(symbol)

    def articles(self, start_ms: int | None = None, end_ms: int | None = None,
                 symbols: Sequence[str] | None = None) -> list[Article]:
        return self._store.articles(start_ms, end_ms, symbols)

    def impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                end_ms: int | None = None) -> list[NewsImpact]:
        return self._impacts.load(symbols, start_ms, end_ms)

    def impacts_for_article(self, article_id: str) -> list[NewsImpact]:
        return self._impacts.for_article(article_id)


class EmbeddedProcessor:
    """In-process processing into one SQLite file (see the module docstring).

    Args:
        store_path: The SQLite file (live data, the demo and each replay have their own).
        store_label: What the window calls this store.
        allowed_lateness_ms: The aggregator's watermark distance.
        archive_dir: The Iceberg archive's directory (None: no archive, and so no retention).
        hot_retention_days: Days of candles the hot store keeps (None: all).
    """

    mode = "embedded"

    def __init__(self, store_path: Path, *, store_label: str = "live store",
                 allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS, archive_dir: Path | None = None,
                 hot_retention_days: int | None = None) -> None:
        self.store_path = Path(store_path)
        self.store_label = store_label
        self.bus = InProcessBus()
        self.history: StoreHistory | None = None
        self._lateness = allowed_lateness_ms
        self._archive_dir = archive_dir
        self._retention_days = hot_retention_days
        self._store: SqliteStore | None = None
        self._aggregator: CandleAggregator | None = None
        self._signals: SignalProcessor | None = None
        self._archiver: Archiver | None = None
        self._retention: HotStoreRetention | None = None
        self._archive_status = StatusTracker("Archive")
        self._processing = False
        self._next_maintenance = 0.0

    # -- worker thread ----------------------------------------------------------------------------

    def open(self) -> None:
        store = self._store = SqliteStore(self.store_path)
        self._aggregator = CandleAggregator(self._lateness, history=StoreDayHistory(store))
        if not self._aggregator.native:
            _say_the_compiled_core_is_missing()
        self._signals = SignalProcessor(store)
        if self._archive_dir is not None:
            self._archiver = Archiver(self._open_archive, str(self._archive_dir))
        if self._retention_days:
            self._retention = HotStoreRetention(
                store, self._archiver, self._retention_days,
                record_mark=lambda symbol, cutoff: store.set_meta(f"archived_through:{symbol}", str(cutoff)))
        self.history = StoreHistory(store, self._signals.impacts, self._archiver)
        self._maintain()

    def _open_archive(self):
        from backend.processing.archive_process import ArchiveProcess  # pyiceberg and pyarrow stay out of here

        return ArchiveProcess(local=str(self._archive_dir))

    def close(self) -> None:
        if self._archiver is not None:
            self._archiver.close()
        if self._store is not None:
            self._store.close()

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_ms: int | None) -> None:
        self._signals.set_rules(rules, max_age_ms)

    def process(self, group: list[Batch], retry: bool = False, catching_up: bool = False) -> PipelineUpdate:
        """Aggregate and store one group of batches in one transaction; never raises for bad content.

        ``retry``: the group was applied before but its results were not stored, so every candle it
        touches is produced again (see CandleAggregator.add's ``force``).
        """
        update = PipelineUpdate(entered_ns=min(b.received_ns for b in group))
        bars = []
        articles: list[Article] = []
        for batch in group:
            if isinstance(batch, PriceBatch):
                bars.extend(batch.bars)
            else:
                articles.extend(batch.articles)
            update.rejected.extend(batch.rejected)
        store = self._store
        with store.transaction():
            result = self._aggregator.add(bars, force=retry)
            update.rejected.extend(result.rejected)
            candles = result.candles
            if result.settled:
                store.delete_seconds(result.settled)
            if result.seconds:
                store.upsert_seconds([(sym, start, *values) for sym, start, values in result.seconds])
            if result.late:
                candles = candles + apply_late_bars(store, result.late)
            store.upsert_candles(candles)
            if articles:
                update.articles = store.upsert_articles(articles)
            update.impacts, update.alerts = self._signals.apply(candles, update.articles, live=not catching_up)
        update.candles = candles
        update.clock_ms = max((bar.end_ms for bar in bars), default=0)
        if self._archiver is not None:
            self._archiver.add(candles, update.articles)
        if time.monotonic() >= self._next_maintenance:
            self._maintain()
        return update

    def forget(self, group: list[Batch]) -> None:
        """After a group was given up: drop memory of its symbols, so nothing unstored reaches a roll-up."""
        self._aggregator.forget({bar.symbol for b in group if isinstance(b, PriceBatch) for bar in b.bars})

    def _maintain(self) -> None:
        """Retention (archive first) and pruning of second bars no later bar can merge with."""
        self._next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL_S
        now_ms = int(time.time() * 1000)
        horizon = self._lateness + self._aggregator.seconds_horizon_ms + DAY_MS
        newest = self._store.latest_candle_start()
        if newest is not None:
            self._store.prune_seconds(newest - horizon)
        if self._retention is None:
            self._archive_status.set(SourceState.RUNNING if self._archiver else SourceState.STOPPED,
                                     "no retention: the hot store keeps everything")
            return
        outcome = self._retention.enforce(now_ms)
        if outcome.paused:
            self._archive_status.set(SourceState.BACKING_OFF,
                                     f"retention paused, nothing deleted: {outcome.paused}")
        else:
            self._archive_status.set(SourceState.RUNNING, f"hot store keeps {self._retention.days} days; "
                                     f"older candles are in the archive")

    # -- pipeline thread --------------------------------------------------------------------------

    async def run(self, host: Host) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = await self.bus.consume()
            self._processing = True
            try:
                update = await self._process_with_retries(loop, host, group)
            finally:
                self._processing = False
            if update is not None:
                host.emit(update)

    async def _process_with_retries(self, loop: asyncio.AbstractEventLoop, host: Host, group: list[Batch]
                                    ) -> PipelineUpdate | None:
        """Process a group; an unexpected error is logged and the group retried with backoff — re-applying bars
        and articles is an upsert — so the loop never dies. Acknowledge the outcome to the sources."""
        attempts = len(PROCESS_RETRY_DELAYS_S) + 1
        for attempt in range(1, attempts + 1):
            try:
                update = await loop.run_in_executor(host.worker, self.process, group, attempt > 1,
                                                    host.catching_up())
            except Exception:
                log.exception("processing a group of %d batch(es) failed (attempt %d of %d)", len(group), attempt,
                              attempts)
                if attempt < attempts:
                    await asyncio.sleep(PROCESS_RETRY_DELAYS_S[attempt - 1])
                continue
            acknowledge(group, True)
            return update
        log.error("giving up on a group of %d batch(es) after %d attempts; their sources will fetch them again",
                  len(group), attempts)
        await loop.run_in_executor(host.worker, self.forget, group)
        acknowledge(group, False)
        return PipelineUpdate(rejected=[f"{sum(b.size for b in group)} item(s) could not be stored"])

    def busy(self) -> bool:
        return self._processing or self.bus.pending() > 0

    def statuses(self) -> list[SourceStatus]:
        return [self._archive_status.status] if self._archive_dir is not None else []

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Nothing to do: sources route news to the watchlist, and the core filters what listeners get."""
