"""Stack-mode pipeline: the same facade as :class:`backend.pipeline.Pipeline`, on Kafka, Flink and InfluxDB.

    sources ──(KafkaSourceBus: parse at the edge, route news)──▶ stock-prices / news-articles
    Flink candle job ──▶ candles / articles topics;  Flink impact job ──▶ impacts topic
    InfluxDB sink (a consumer group per bucket) ──▶ InfluxDB, offsets committed after the write
    live feed (a consumer group of its own, from the newest offset) ──▶ listeners (the app's live edge)
    alerts (worker thread) ◀── the live feed's candles, articles and impacts
    history, news, impacts and snapshots ◀── InfluxDB

The app sees exactly what it sees in embedded mode: :class:`PipelineUpdate` s with
candles, articles, snapshots, impacts and alerts, and futures for history. Impacts are
computed by the Flink impact job and kept in InfluxDB (measurement ``news_impacts``: it
survives restarts, has the hot store's retention, and Grafana can read it); alert rules
are checked by the embedded pipeline's :class:`~backend.signals.alerts.AlertEngine` over
the live candles (:class:`~backend.signals.live_history.LiveCandleHistory`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import uuid
from typing import Callable, Sequence

from confluent_kafka import Consumer, TopicPartition

from backend.bus.kafka import (ARTICLES, CANDLES, DECODERS, IMPACTS, BusError, KafkaPublisher, Record,
                               SinkConsumer, default_topics, ensure_topics)
from backend.bus.schema import SchemaError
from backend.bus.memory import NEWS, PRICES
from backend.model import Article, Candle, Timeframe, WatchItem
from backend.pipeline import HISTORY_LIMIT, CandleSeries, PipelineUpdate, SourceFactory
from backend.processing.news_routing import route_news_page, routes_for
from backend.processing.snapshots import SnapshotBook, SymbolSnapshot
from backend.signals.alerts import DEFAULT_MAX_AGE_MS, DEFAULT_RULES, Alert, AlertEngine, AlertRule
from backend.signals.impact import NewsImpact
from backend.signals.live_history import LiveCandleHistory
from backend.sources.base import SourceState, SourceStatus, StatusTracker, supervise
from backend.stores.base import StoreError
from backend.stores.influx import Health, HealthState, InfluxSettings, InfluxStore
from backend.wire.polygon import parse_frame

log = logging.getLogger(__name__)

SINK_GROUP = "tickerwire-influx-sink"


def sink_group(influx: InfluxSettings) -> str:
    """One consumer group per InfluxDB destination: a new bucket is filled from the start of the topics."""
    return f"{SINK_GROUP}-{uuid.uuid5(uuid.NAMESPACE_URL, influx.url + '/' + influx.bucket).hex[:12]}"


class KafkaSourceBus:
    """What sources publish to in stack mode: wire payloads become versioned records on Kafka.

    Prices are parsed into ``bar`` records keyed by symbol; news pages are routed to the
    watch items' symbols (same rules as embedded mode) and produced keyed by the query.
    Unparseable input is logged with its reason and counted — never produced.
    """

    def __init__(self, publisher: KafkaPublisher, watchlist: list[WatchItem]) -> None:
        self._publisher = publisher
        self._routes = routes_for(watchlist)
        self.rejected = 0

    def set_watchlist(self, items: list[WatchItem]) -> None:
        self._routes = routes_for(items)

    async def publish(self, topic: str, key: str, value: str | bytes) -> None:
        self.publish_nowait(topic, key, value)
        await asyncio.sleep(0)

    def publish_nowait(self, topic: str, key: str, value: str | bytes) -> None:
        rejected: list[str] = []
        if topic == PRICES:
            parsed = parse_frame(value)
            rejected.extend(parsed.rejected)
            for bar in parsed.bars:
                self._publisher.publish_bar(bar)
        elif topic == NEWS:
            for article in route_news_page(value, key, self._routes.get(key, []), rejected):
                self._publisher.publish_article(article, key)
        else:
            rejected.append(f"unknown topic {topic!r}")
        if rejected:
            self.rejected += len(rejected)
            log.warning("rejected %d message(s) at the stack's edge, e.g. %s", len(rejected), rejected[0])
        self._publisher.poll(0)

    def pending(self) -> int:
        return self._publisher.pending()


class StackPipeline:
    """Stack mode behind the embedded pipeline's interface (start/stop/listen/query)."""

    mode = "stack"

    def __init__(self, bootstrap_servers: str, influx: InfluxSettings, watchlist: list[WatchItem],
                 sources: SourceFactory, *, run_sink: bool = True) -> None:
        """``run_sink`` runs the Kafka → InfluxDB sink in this process (off when the stack runs its own)."""
        self._bootstrap = bootstrap_servers
        self._influx_settings = influx
        self._watchlist = list(watchlist)
        self._source_factory = sources
        self._run_sink = run_sink
        self._listeners: list[Callable[[PipelineUpdate], None]] = []
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tickerwire-stack-worker")
        self._snapshots = SnapshotBook()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sources = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source_tasks: list[asyncio.Task] = []
        self._kafka = StatusTracker("Kafka")
        self._influx = StatusTracker("InfluxDB")
        self.store: InfluxStore | None = None
        self._alerts: AlertEngine | None = None
        self._history: LiveCandleHistory | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to Kafka and InfluxDB and start sources, sink and live feed; raise with a clear message if
        the stack is not reachable."""
        try:
            ensure_topics(self._bootstrap, default_topics())
        except BusError as exc:
            raise StoreError(f"Kafka at {self._bootstrap} is not reachable: {exc}") from exc
        self.store = InfluxStore(self._influx_settings, on_health=self._on_influx_health)
        self._history = LiveCandleHistory(self.store)
        self._alerts = AlertEngine(DEFAULT_RULES, self._history, DEFAULT_MAX_AGE_MS)
        self._publisher = KafkaPublisher(self._bootstrap)
        self._bus = KafkaSourceBus(self._publisher, self._watchlist)
        self._kafka.set(SourceState.RUNNING, self._bootstrap)
        self._influx.set(SourceState.RUNNING, self._influx_settings.url)
        live_feed = self._open_live_feed()
        self._spawn("tickerwire-live-feed", lambda: self._run_live_feed(live_feed))
        if self._run_sink:
            self._spawn("tickerwire-influx-sink", self._run_sink_consumer)
        ready = threading.Event()
        self._spawn("tickerwire-stack-sources", lambda: self._run_sources(ready))
        self._spawn("tickerwire-stack-status", self._run_status)
        ready.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sources, deliver what they produced, stop consumers, flush InfluxDB."""
        if self._loop is not None:
            for task in self._source_tasks:
                self._loop.call_soon_threadsafe(task.cancel)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        try:
            self._publisher.flush(timeout)
        except (BusError, AttributeError) as exc:
            log.error("undelivered messages at stop: %s", exc)
        if self.store is not None:
            self.store.close()
        self._worker.shutdown(wait=True)

    def add_listener(self, listener: Callable[[PipelineUpdate], None]) -> None:
        self._listeners.append(listener)

    # -- commands and queries (thread-safe) -----------------------------------------------------

    def set_watchlist(self, items: list[WatchItem]) -> None:
        self._watchlist = list(items)
        self._bus.set_watchlist(self._watchlist)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: [s.set_watchlist(self._watchlist) for s in self._sources])

    def load_candles(self, symbol: str, timeframe: Timeframe, limit: int = HISTORY_LIMIT
                     ) -> concurrent.futures.Future[CandleSeries]:
        def load() -> CandleSeries:
            candles = self.store.candles(symbol, timeframe)[-limit:]
            rows = [(c.start_ms, c.open, c.high, c.low, c.close, c.volume, c.vwap) for c in candles]
            return CandleSeries.from_rows(symbol, timeframe, rows)
        return self._worker.submit(load)

    def load_articles(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                      end_ms: int | None = None) -> concurrent.futures.Future[list[Article]]:
        return self._worker.submit(lambda: self.store.articles(start_ms, end_ms, symbols))

    def load_snapshots(self, symbols: Sequence[str]) -> concurrent.futures.Future[list[SymbolSnapshot]]:
        def load() -> list[SymbolSnapshot]:
            out = []
            for symbol in symbols:
                minutes = self.store.candles(symbol, Timeframe.M1)[-60:]
                days = self.store.candles(symbol, Timeframe.D1)[-5:]
                self._snapshots.seed(symbol, minutes, days)
                out.append(self._snapshots.snapshot(symbol))
            return out
        return self._worker.submit(load)

    def load_impacts(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                     end_ms: int | None = None) -> concurrent.futures.Future[list[NewsImpact]]:
        """Stored news impacts of articles published in [start_ms, end_ms) (the Flink impact job's output)."""
        return self._worker.submit(lambda: self.store.impacts(start_ms, end_ms, symbols))

    def load_impacts_for_article(self, article_id: str) -> concurrent.futures.Future[list[NewsImpact]]:
        return self._worker.submit(lambda: self.store.impacts(article_id=article_id))

    def set_alert_rules(self, rules: Sequence[AlertRule], max_age_s: int | None = None
                        ) -> concurrent.futures.Future[None]:
        """Apply alert rules and, if given, the ``alert_max_age_s`` setting (on the worker, like the checks)."""
        rules = list(rules)
        max_age_ms = None if max_age_s is None else max_age_s * 1000
        return self._worker.submit(lambda: self._alerts.set_rules(rules, max_age_ms))

    def statuses(self) -> list[SourceStatus]:
        return [s.status for s in self._sources] + [self._kafka.status, self._influx.status]

    # -- threads --------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run_sources(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._sources = self._source_factory(self._watchlist)
            self._source_tasks = [asyncio.create_task(supervise(s, self._bus)) for s in self._sources]
            ready.set()
            await asyncio.gather(*self._source_tasks, return_exceptions=True)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def _consume(self, make_consumer: Callable[[], SinkConsumer], tracker: StatusTracker) -> None:
        """Poll until stopped. A failed write leaves its offsets uncommitted; the consumer is then
        recreated, so it resumes from the last commit and the batch is read again (at-least-once)."""
        consumer = make_consumer()
        try:
            while not self._stop.is_set():
                try:
                    consumer.poll_once(timeout=0.2)
                except (BusError, StoreError) as exc:
                    tracker.set(SourceState.BACKING_OFF, str(exc))
                    consumer.close()
                    self._stop.wait(1.0)
                    consumer = make_consumer()
        finally:
            consumer.close()

    def _run_sink_consumer(self) -> None:
        """Kafka → InfluxDB: upsert, flush, and only then commit (at-least-once; points are idempotent)."""
        def write(records: list[Record]) -> None:
            candles = [r.value for r in records if isinstance(r.value, Candle)]
            articles = [r.value for r in records if isinstance(r.value, Article)]
            impacts = [r.value for r in records if isinstance(r.value, NewsImpact)]
            if candles:
                self.store.upsert_candles(candles)
            if articles:
                self.store.upsert_articles(articles)
            if impacts:
                self.store.upsert_impacts(impacts)
            self.store.flush()  # raises StoreError when InfluxDB is down: offsets stay uncommitted
            self._influx.count(len(records))

        group = sink_group(self._influx_settings)
        self._consume(lambda: SinkConsumer(self._bootstrap, group, [CANDLES, ARTICLES, IMPACTS], write,
                                           dead_letters=self._publisher), self._influx)

    def _open_live_feed(self) -> Consumer:
        """A consumer assigned to the current end of ``candles``, ``articles`` and ``impacts``: it sees everything
        the jobs emit after this call (called before the sources start, so nothing of theirs is missed)."""
        consumer = Consumer({"bootstrap.servers": self._bootstrap, "group.id": f"tickerwire-app-{uuid.uuid4().hex[:12]}",
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
                    self._kafka.set(SourceState.RUNNING, self._bootstrap)
                    self._kafka.count(len(messages))
                    self._emit(PipelineUpdate(candles=candles, articles=list(articles.values()),
                                              snapshots=self._snapshots.apply(candles),
                                              impacts=list(impacts.values())))
                    self._worker.submit(self._check_alerts, candles, list(articles.values()), list(impacts.values()))
        finally:
            consumer.close()

    def _check_alerts(self, candles: list[Candle], articles: list[Article], impacts: list[NewsImpact]) -> None:
        """The alert rules on one live batch (worker thread: older candles are read from InfluxDB)."""
        self._history.add(candles)
        try:
            alerts: list[Alert] = self._alerts.apply(candles, articles, impacts)
        except StoreError as exc:
            log.warning("alerts not checked for a batch: %s", exc)
            return
        if alerts:
            self._emit(PipelineUpdate(alerts=alerts))

    def _run_status(self) -> None:
        while not self._stop.wait(1.0):
            self._emit(PipelineUpdate(statuses=self.statuses()))

    def _on_influx_health(self, state: HealthState) -> None:
        if state.health in (Health.OK, Health.UNKNOWN):
            self._influx.set(SourceState.RUNNING, self._influx_settings.url)
        elif state.health is Health.MISCONFIGURED:
            self._influx.set(SourceState.FAILED, state.detail)
        else:  # unreachable or rejecting points: data waits in Kafka (offsets not committed)
            self._influx.set(SourceState.BACKING_OFF, f"{state.health.value}: {state.detail}")

    def _emit(self, update: PipelineUpdate) -> None:
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                log.exception("pipeline listener failed")


