"""The stack processor: the same pipeline core on Kafka, Flink and InfluxDB.

    sources ──(KafkaSourceBus: encode the parsed batches)──▶ stock-prices / news-articles
    Flink candle job ──▶ candles / articles topics;  Flink impact job ──▶ impacts topic
    InfluxDB sink (a consumer group per bucket) ──▶ InfluxDB, offsets committed after the write
    archive sink (a consumer group per archive) ──▶ Iceberg, offsets committed after the append
    live feed (a consumer group of its own, from the newest offset) ──▶ the core's listeners
    alerts (worker thread) ◀── the live feed's candles, articles and impacts
    history, news, impacts and snapshots ◀── InfluxDB, and the archive behind its retention

InfluxDB keeps ``hot_retention_days``: every hour the candles older than that are appended to the
archive and, once it confirmed them, deleted (:mod:`backend.processing.retention`) — the server's
own expiry is off, so nothing leaves the hot store that the archive does not hold.

The app sees exactly what it sees in embedded mode: :class:`PipelineUpdate` s with
candles, articles, impacts and alerts, and futures for history. Impacts are computed by
the Flink impact job and kept in InfluxDB (measurement ``news_impacts``); alert rules are
checked by the embedded pipeline's :class:`~backend.signals.alerts.AlertEngine` over the
live candles (:class:`~backend.signals.live_history.LiveCandleHistory`). A batch is
acknowledged to its source once Kafka has acknowledged every record of it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
import uuid
from dataclasses import replace
from typing import Callable, Sequence

from confluent_kafka import Consumer, TopicPartition

from backend.bus.base import Batch, PriceBatch
from backend.bus.kafka import (ARTICLES, CANDLES, DECODERS, IMPACTS, BusError, KafkaPublisher, client_config,
                               default_topics, ensure_topics)
from backend.bus.preflight import KafkaProblem, kafka_preflight
from backend.bus.security import PLAINTEXT, KafkaSecurity
from backend.bus.schema import SchemaError
from backend.model import Article, Candle, NewsImpact, Timeframe, WatchItem
from backend.pipeline.contract import Host
from backend.pipeline.stack_sinks import SinkService
from backend.pipeline.updates import PipelineUpdate
from backend.processing.archiver import DEFAULT_INTERVAL_S, Archiver
from backend.signals.alerts import DEFAULT_MAX_AGE_MS, DEFAULT_RULES, Alert, AlertEngine, AlertRule
from backend.signals.live_history import LiveCandleHistory
from backend.sources.base import SourceState, SourceStatus, StatusTracker
from backend.stores.base import StoreError
from backend.stores.influx import Health, HealthState, InfluxSettings, InfluxStore
from backend.timeutil import DAY_MS

log = logging.getLogger(__name__)

#: How far back "the newest candle" of a symbol is looked for in InfluxDB.
LATEST_LOOKBACK_MS = 10 * DAY_MS
#: Recent bar publications remembered to stamp the live candles they produce (message → pixel latency).
ENTRY_STAMPS = 50_000


class KafkaSourceBus:
    """What sources publish to in stack mode: each parsed batch becomes versioned records on Kafka.

    Bars go to ``stock-prices`` keyed by symbol, articles (already routed) to ``news-articles`` keyed
    by their id. A batch is acknowledged (``on_stored(True)``) once Kafka has acknowledged its
    records, in publication order; a delivery failure acknowledges what is outstanding with False.
    Rejected items are logged with their reason and counted — never produced.
    """

    def __init__(self, publisher: KafkaPublisher) -> None:
        self._publisher = publisher
        self._outstanding: collections.deque[tuple[int, Batch]] = collections.deque()
        self._lock = threading.Lock()
        self._entered: dict[tuple[str, int], int] = {}  # (symbol, minute) → when its newest bar reached a source
        self.clock_ms = 0  # the latest bar end published from this process (the feed's event time)
        self.rejected = 0

    async def publish(self, batch: Batch) -> None:
        self.publish_nowait(batch)
        await asyncio.sleep(0)

    def publish_nowait(self, batch: Batch) -> None:
        publisher = self._publisher
        if isinstance(batch, PriceBatch):
            entered = self._entered
            for bar in batch.bars:
                publisher.publish_bar(bar)
                entered[(bar.symbol, bar.start_ms - bar.start_ms % 60_000)] = batch.received_ns
                if bar.end_ms > self.clock_ms:
                    self.clock_ms = bar.end_ms
            while len(entered) > ENTRY_STAMPS:
                del entered[next(iter(entered))]
        else:
            for article in batch.articles:
                publisher.publish_article(article, article.id)
        if batch.rejected:
            self.rejected += len(batch.rejected)
            log.warning("rejected %d item(s) at the stack's edge, e.g. %s", len(batch.rejected), batch.rejected[0])
        if batch.on_stored is not None:
            with self._lock:
                self._outstanding.append((publisher.produced, batch))
        self.poll()

    def poll(self) -> None:
        """Serve delivery reports and acknowledge the batches whose records Kafka now holds."""
        publisher = self._publisher
        publisher.poll(0)
        failed = False
        try:
            publisher.raise_failures()
        except BusError as exc:
            log.error("records not delivered to Kafka: %s", exc)
            failed = True
        done: list[tuple[Batch, bool]] = []
        with self._lock:
            settled = publisher.produced - publisher.pending()
            while self._outstanding and (failed or self._outstanding[0][0] <= settled):
                done.append((self._outstanding.popleft()[1], not failed))
        for batch, stored in done:
            try:
                batch.on_stored(stored)
            except Exception:
                log.exception("a source's on_stored callback failed")

    def entered_ns(self, candle: Candle) -> int:
        """When the newest bar behind a live 1m candle reached its source in this process (0 if not here)."""
        return self._entered.get((candle.symbol, candle.start_ms), 0) if candle.timeframe is Timeframe.M1 else 0

    def pending(self) -> int:
        return len(self._outstanding)


class InfluxHistory:
    """History queries on InfluxDB, with the archive behind its retention (worker thread)."""

    def __init__(self, store: InfluxStore, archiver: Archiver | None) -> None:
        self._store = store
        self._archiver = archiver

    def candle_rows(self, symbol: str, timeframe: Timeframe, limit: int) -> list[tuple]:
        candles = self._store.candles(symbol, timeframe)[-limit:]
        rows = [(c.start_ms, c.open, c.high, c.low, c.close, c.volume, c.vwap) for c in candles]
        return self._archiver.top_up(rows, symbol, timeframe, limit) if self._archiver is not None else rows

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]:
        return self._store.candles(symbol, timeframe, start_ms, end_ms)

    def latest_candle_start(self, symbol: str) -> int | None:
        recent = self._store.candles(symbol, Timeframe.M1, int(time.time() * 1000) - LATEST_LOOKBACK_MS)
        return recent[-1].start_ms if recent else None

    def articles(self, start_ms: int | None = None, end_ms: int | None = None,
                 symbols: Sequence[str] | None = None) -> list[Article]:
        return self._store.articles(start_ms, end_ms, symbols)

    def impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                end_ms: int | None = None) -> list[NewsImpact]:
        return self._store.impacts(start_ms, end_ms, symbols)

    def impacts_for_article(self, article_id: str) -> list[NewsImpact]:
        return self._store.impacts(article_id=article_id)


class StackProcessor:
    """Kafka, Flink and InfluxDB behind the core (see the module docstring).

    Args:
        bootstrap_servers: Kafka's ``host:port[,…]``.
        influx: Where InfluxDB is and how to write to it (its ``retention_days`` is applied here, archive first).
        run_sink: Run the sinks (InfluxDB, archive) in this process (off when the stack runs its own).
        open_archive: Opens the stack's Iceberg archive (None: no archive, so InfluxDB keeps everything).
        archive_where: Where that archive is, for messages and its sink's consumer group.
        archive_interval_s: How often the archive sink appends (one Iceberg commit per interval).
        security: TLS and SASL settings of every Kafka client of the pipeline.
        create_topics: Create missing topics (the app's own stack); else a missing topic is an error saying so.
    """

    mode = "stack"
    store_label = "the stack (InfluxDB)"

    def __init__(self, bootstrap_servers: str, influx: InfluxSettings, *, run_sink: bool = True,
                 open_archive: Callable[[], object] | None = None, archive_where: str = "",
                 archive_interval_s: float = DEFAULT_INTERVAL_S, security: KafkaSecurity = PLAINTEXT,
                 create_topics: bool = True) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security
        self._create_topics = create_topics
        self._retention_days = influx.retention_days
        self._influx_settings = replace(influx, retention_days=None)  # no expiry that the archive did not confirm
        self._run_sink = run_sink
        self._archiver = (Archiver(open_archive, archive_where, archive_interval_s) if open_archive is not None
                          else None)
        self.sinks: SinkService | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._kafka = StatusTracker("Kafka")
        self._influx = StatusTracker("InfluxDB")
        self.store: InfluxStore | None = None
        self.history: InfluxHistory | None = None
        self.bus: KafkaSourceBus | None = None
        self._publisher: KafkaPublisher | None = None
        self._alerts: AlertEngine | None = None
        self._live_history: LiveCandleHistory | None = None

    # -- worker thread ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect to Kafka (topics) and InfluxDB; raise StoreError with a clear message if unreachable."""
        try:
            if self._create_topics:
                ensure_topics(self._bootstrap, default_topics(), security=self._security)
            else:  # a stack the app did not start: one bounded look, each failure in words, nothing created
                found = kafka_preflight(self._bootstrap, self._security)
                log.info("Kafka: %s", found)
        except KafkaProblem as exc:
            raise StoreError(f"Kafka: {exc.message}") from exc
        except BusError as exc:
            raise StoreError(f"Kafka at {self._bootstrap} is not reachable: {exc}") from exc
        self.store = InfluxStore(self._influx_settings, on_health=self._on_influx_health)
        self.history = InfluxHistory(self.store, self._archiver)
        self._live_history = LiveCandleHistory(self.store)
        self._alerts = AlertEngine(DEFAULT_RULES, self._live_history, DEFAULT_MAX_AGE_MS)
        self._publisher = KafkaPublisher(self._bootstrap, security=self._security)
        self.bus = KafkaSourceBus(self._publisher)
        if self._run_sink:
            self.sinks = SinkService(self._bootstrap, self.store, self._publisher, self._archiver, self._retention_days,
                                     self._security)
        self._kafka.set(SourceState.RUNNING, self._bootstrap)
        self._influx.set(SourceState.RUNNING, self._influx_settings.url)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        if self.sinks is not None:
            self.sinks.stop()
        if self._publisher is not None:
            try:
                self._publisher.flush(10)
            except BusError as exc:
                log.error("undelivered messages at stop: %s", exc)
            self.bus.poll()
            # Released, not kept: a live client goes on reconnecting to a stack that is gone.
            self._publisher = self.bus = None
            if self.sinks is not None:
                self.sinks.release()
        if self.store is not None:
            self.store.close()

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_ms: int | None) -> None:
        self._alerts.set_rules(rules, max_age_ms)

    # -- pipeline thread --------------------------------------------------------------------------

    async def run(self, host: Host) -> None:
        """Start the live feed and the sinks on threads of their own; serve delivery reports and run the hot
        store's retention until cancelled."""
        self._host = host
        live_feed = self._open_live_feed()
        self._spawn("tickerwire-live-feed", lambda: self._run_live_feed(live_feed))
        if self.sinks is not None:
            self.sinks.start()
        try:
            while True:
                self.bus.poll()
                await asyncio.sleep(0.05)
        finally:
            self._stop.set()

    def unreachable(self) -> str:
        """'' while Kafka answers the pipeline's producer, else why not (the collector's health check)."""
        return self._publisher.unreachable() if self._publisher is not None else "not connected to Kafka yet"

    def busy(self) -> bool:
        if self.bus is None:
            return False
        self.bus.poll()
        return self.bus.pending() > 0

    def statuses(self) -> list[SourceStatus]:
        return [self._kafka.status, self._influx.status] + (self.sinks.statuses()[1:] if self.sinks else [])

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Nothing to do: sources route news themselves, and the core filters what listeners get."""

    # -- threads ----------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _open_live_feed(self) -> Consumer:
        """A consumer assigned to the current end of ``candles``, ``articles`` and ``impacts``: it sees everything
        the jobs emit after this call (called before the sources publish, so nothing of theirs is missed)."""
        consumer = Consumer({**client_config(self._bootstrap, self._security),
                             "group.id": f"tickerwire-app-{uuid.uuid4().hex[:12]}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 50})
        assignment = []
        metadata = consumer.list_topics(timeout=10)
        for topic in (CANDLES, ARTICLES, IMPACTS):
            for partition in metadata.topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                assignment.append(TopicPartition(topic, partition, high))
        consumer.assign(assignment)
        return consumer

    def _run_live_feed(self, consumer: Consumer) -> None:
        """The app's live edge: every candle, article and impact the jobs emit from now on, straight from Kafka;
        alerts are checked on the worker thread and follow in an update of their own."""
        host = self._host
        try:
            while not self._stop.is_set():
                messages = consumer.consume(5_000, 0.2)
                latest: dict[tuple, Candle] = {}
                articles: dict[str, Article] = {}
                impacts: dict[tuple[str, str], NewsImpact] = {}
                for msg in messages:
                    if msg.error() is not None or msg.value() is None:
                        continue  # transient errors are retried by librdkafka; tombstones carry nothing
                    try:
                        value = DECODERS[msg.topic()](msg.value())
                    except SchemaError as exc:
                        log.warning("live feed: undecodable %s record: %s", msg.topic(), exc.reason)
                        continue
                    if isinstance(value, Candle):
                        latest[value.key] = value
                    elif isinstance(value, Article):
                        articles[value.id] = value
                    elif isinstance(value, NewsImpact):
                        impacts[value.key] = value
                if latest or articles or impacts:
                    candles = list(latest.values())
                    stamps = [t for t in map(self.bus.entered_ns, candles) if t]
                    self._kafka.set(SourceState.RUNNING, self._bootstrap)
                    self._kafka.count(len(messages))
                    host.emit(PipelineUpdate(candles=candles, articles=list(articles.values()),
                                             impacts=list(impacts.values()), entered_ns=min(stamps, default=0),
                                             clock_ms=self.bus.clock_ms))
                    host.worker.submit(self._check_alerts, host, candles, list(articles.values()),
                                       list(impacts.values()))
        finally:
            consumer.close()

    def _check_alerts(self, host: Host, candles: list[Candle], articles: list[Article],
                      impacts: list[NewsImpact]) -> None:
        """The alert rules on one live batch (worker thread: older candles are read from InfluxDB)."""
        self._live_history.add(candles)
        try:
            alerts: list[Alert] = self._alerts.apply(candles, articles, impacts)
        except StoreError as exc:
            log.warning("alerts not checked for a batch: %s", exc)
            return
        if alerts:
            host.emit(PipelineUpdate(alerts=alerts))

    def _on_influx_health(self, state: HealthState) -> None:
        if state.health in (Health.OK, Health.UNKNOWN):
            self._influx.set(SourceState.RUNNING, self._influx_settings.url)
        elif state.health is Health.MISCONFIGURED:
            self._influx.set(SourceState.FAILED, state.detail)
        else:  # unreachable or rejecting points: data waits in Kafka (offsets not committed)
            self._influx.set(SourceState.BACKING_OFF, f"{state.health.value}: {state.detail}")
