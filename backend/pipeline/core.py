"""The one pipeline core: sources → the processor's bus → the processor → listeners; history from its store.

Both modes run this class; what differs is the injected :class:`~backend.pipeline.contract.Processor`
(in-process aggregator and SQLite, or Kafka + Flink + InfluxDB).

Threads: the *pipeline thread* runs an asyncio loop for I/O (the sources, the processor's
consume loop); the *worker thread* owns the store — the processor's CPU work and every
history query run there, in order — so neither the GUI thread nor a socket ever waits on it.
Listeners are called from pipeline threads with typed :class:`PipelineUpdate` s; the app's
bridge turns them into Qt signals.

A stop loses nothing: sources are asked to stop and hand over what they hold, the processor
drains the bus, and only then is the store flushed and closed. Sources learn what was stored
from their batches' acknowledgements, so anything not stored is fetched again next start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Sequence

from backend.model import Article, NewsImpact, Timeframe, WatchItem
from backend.pipeline.contract import Listener, Processor, SourceFactory
from backend.pipeline.updates import HISTORY_LIMIT, CandleSeries, PipelineUpdate
from backend.processing.snapshots import SnapshotBook, SymbolSnapshot
from backend.signals.alerts import AlertRule
from backend.sources.base import Source, SourceState, SourceStatus, supervise

log = logging.getLogger(__name__)

#: How much 1m history seeds a symbol's watchlist sparkline (before its newest candle).
SNAPSHOT_MINUTES_MS = 60 * 60_000
STATUS_INTERVAL_S = 1.0


class PipelineCore:
    """A pipeline: start it, feed it a watchlist, listen to it, query it (implements ``contract.Pipeline``)."""

    def __init__(self, processor: Processor, watchlist: list[WatchItem], sources: SourceFactory) -> None:
        self.processor = processor
        self.mode = processor.mode
        self.store_label = processor.store_label
        self._watchlist = list(watchlist)
        self._watched = frozenset(i.symbol for i in self._watchlist)
        self._source_factory = sources
        self._listeners: list[Listener] = []
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tickerwire-worker")
        self._opened = self.worker.submit(processor.open)  # the worker's first job: queries queue behind it
        self._snapshots = SnapshotBook()
        self._snapshot_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sources: list[Source] = []
        self._source_tasks: list[asyncio.Task] = []
        self._tasks: list[asyncio.Task] = []
        self._ready = threading.Event()
        self.stopped = threading.Event()
        self.failed = threading.Event()  # the loop thread or the processor died: nothing is processed any more
        self.failure = ""
        self.rejected_total = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, open_timeout: float = 60.0) -> None:
        """Open the store, start sources and processing; raise the store's error if it cannot open."""
        self._opened.result(open_timeout)
        self._thread = threading.Thread(target=self._run_loop, name="tickerwire-pipeline", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the sources to stop and hand over what they hold, drain the bus, then flush and close the store.

        Idempotent: a second call returns at once."""
        if self.stopped.is_set():
            return
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop)
            self._thread.join(2 * timeout + 5)
        if self._opened.done() and self._opened.exception() is None:
            try:
                self.worker.submit(self.processor.close).result(timeout + 30)
            except Exception:
                log.exception("closing the %s pipeline's store failed", self.mode)
        self.worker.shutdown(wait=True)
        self.stopped.set()

    def add_listener(self, listener: Listener) -> None:
        """``listener`` is called from pipeline threads; it must hand off, not work."""
        self._listeners.append(listener)

    # -- commands and queries (thread-safe) -----------------------------------------------------

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Apply a new watchlist: sources subscribe/unsubscribe, removed symbols raise no more alerts."""
        removed = self._watched - {i.symbol for i in items}
        self._watchlist = list(items)
        self._watched = frozenset(i.symbol for i in items)
        with self._snapshot_lock:
            for symbol in removed:
                self._snapshots.forget(symbol)
        self.processor.set_watchlist(self._watchlist)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._apply_watchlist, self._watchlist)

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_s: int | None = None
                        ) -> concurrent.futures.Future[None]:
        """Apply alert rules (validated by backend.signals.alerts.rules_from_settings) and, if given, how old
        an event may be and still alert (the ``alert_max_age_s`` setting)."""
        rules = list(rules)
        max_age_ms = None if max_age_s is None else max_age_s * 1000
        return self.worker.submit(self.processor.set_alert_rules, rules, max_age_ms)

    def load_candles(self, symbol: str, timeframe: Timeframe, limit: int = HISTORY_LIMIT
                     ) -> concurrent.futures.Future[CandleSeries]:
        """The newest ``limit`` candles of a symbol as columns (the archive fills in behind the hot store)."""
        return self.worker.submit(lambda: CandleSeries.from_rows(
            symbol, timeframe, self.processor.history.candle_rows(symbol, timeframe, limit)))

    def load_articles(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                      end_ms: int | None = None) -> concurrent.futures.Future[list[Article]]:
        return self.worker.submit(lambda: self.processor.history.articles(start_ms, end_ms, symbols))

    def load_impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                     end_ms: int | None = None) -> concurrent.futures.Future[list[NewsImpact]]:
        """Stored news impacts of articles published in [start_ms, end_ms)."""
        return self.worker.submit(lambda: self.processor.history.impacts(symbols, start_ms, end_ms))

    def load_impacts_for_article(self, article_id: str) -> concurrent.futures.Future[list[NewsImpact]]:
        return self.worker.submit(lambda: self.processor.history.impacts_for_article(article_id))

    def load_snapshots(self, symbols: Sequence[str]) -> concurrent.futures.Future[list[SymbolSnapshot]]:
        """Watchlist figures seeded from history (the last hour of 1m candles, the last five days)."""
        return self.worker.submit(self._seed_snapshots, list(symbols))

    def statuses(self) -> list[SourceStatus]:
        own = [SourceStatus("Pipeline", SourceState.FAILED, self.failure)] if self.failure else []
        return own + [s.status for s in self._sources] + self.processor.statuses()

    def catching_up(self) -> bool:
        """True while a source still replays history (its bars raise no alerts)."""
        return any(s.status.state is SourceState.STARTING for s in self._sources)

    # -- the processor's side -------------------------------------------------------------------

    def emit(self, update: PipelineUpdate) -> None:
        """A processed batch for the listeners: watchlist snapshots added, alerts of unwatched symbols dropped."""
        watched = self._watched
        if update.candles:
            with self._snapshot_lock:
                update.snapshots = [s for s in self._snapshots.apply(update.candles) if s.symbol in watched]
        if update.alerts:
            update.alerts = [a for a in update.alerts if a.symbol in watched]
        if update.rejected:
            self.rejected_total += len(update.rejected)
            log.warning("rejected %d item(s), e.g. %s", len(update.rejected), update.rejected[0])
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                log.exception("pipeline listener failed")

    # -- pipeline thread ------------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 — reported, never silent
            self._fail(f"the pipeline thread died: {type(exc).__name__}: {exc}")
            raise
        finally:
            loop.close()
            self._ready.set()

    async def _main(self) -> None:
        self._sources = self._source_factory(self._watchlist)
        for source in self._sources:
            source.set_watchlist(self._watchlist)
        bus = self.processor.bus
        self._source_tasks = [asyncio.create_task(supervise(s, bus), name=f"source:{s.name}") for s in self._sources]
        processing = asyncio.create_task(self.processor.run(self), name="processor")
        processing.add_done_callback(self._on_processor_done)
        self._tasks = self._source_tasks + [processing, asyncio.create_task(self._report_status(), name="status")]
        self._ready.set()
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            # Ended tasks keep their cancellation's traceback, whose frames hold the bus and its Kafka client.
            self._source_tasks, self._tasks = [], []

    async def _shutdown(self, timeout: float) -> None:
        """Sources first (those that can stop cleanly hand over and wait until it is stored), then the bus
        drains, then everything else ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        graceful = [(s, t) for s, t in zip(self._sources, self._source_tasks) if hasattr(s, "request_stop")]
        for source, _ in graceful:
            source.request_stop()
        if graceful:
            await asyncio.wait([t for _, t in graceful], timeout=max(0.1, deadline - loop.time()))
        for task in self._source_tasks:
            task.cancel()
        await asyncio.gather(*self._source_tasks, return_exceptions=True)
        while self.processor.busy() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self.processor.busy():
            log.warning("stopping with input still unprocessed after %.0f s; sources fetch it again next start",
                        timeout)
        for task in self._tasks:
            task.cancel()

    def _on_processor_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("the %s processor stopped", self.mode, exc_info=exc)
            self._fail(f"processing stopped: {type(exc).__name__}: {exc}")

    def _fail(self, reason: str) -> None:
        """Remember why nothing is processed any more, and tell the listeners (the status bar shows it)."""
        if self.failure:
            return
        self.failure = reason
        self.failed.set()
        self.emit(PipelineUpdate(statuses=self.statuses()))

    async def _report_status(self) -> None:
        while True:
            self.emit(PipelineUpdate(statuses=self.statuses()))
            await asyncio.sleep(STATUS_INTERVAL_S)

    def _apply_watchlist(self, items: list[WatchItem]) -> None:
        for source in self._sources:
            source.set_watchlist(items)

    # -- worker thread --------------------------------------------------------------------------

    def _seed_snapshots(self, symbols: list[str]) -> list[SymbolSnapshot]:
        history = self.processor.history
        out = []
        for symbol in symbols:
            latest = history.latest_candle_start(symbol)
            minutes = [] if latest is None else history.candles(symbol, Timeframe.M1, latest - SNAPSHOT_MINUTES_MS)
            days = history.candles(symbol, Timeframe.D1)[-5:]
            with self._snapshot_lock:
                self._snapshots.seed(symbol, minutes, days)
                out.append(self._snapshots.snapshot(symbol))
        return out
