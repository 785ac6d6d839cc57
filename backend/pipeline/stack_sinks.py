"""The stack's two sinks: the Flink jobs' output topics into InfluxDB and into the Iceberg archive.

Each is a Kafka consumer group of its own, at-least-once: offsets are committed only after
the destination holds what they cover, so a crash, a restart or a destination that is down
means reading a stretch again — never losing it — and the destinations upsert by key, so a
replay never duplicates.

* :class:`InfluxSink` writes candles, articles and impacts to InfluxDB batch by batch (the hot
  store the app reads), then commits.
* :class:`ArchiveSink` hands candles and articles to an :class:`~backend.processing.archiver.Archiver`
  (latest version per key; one Iceberg commit a minute) and commits the offsets only once an
  append covering them succeeded. While the archive is down it keeps reading into the buffer
  and retrying; Kafka keeps what was not committed (7 days).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Callable

from confluent_kafka import Consumer, TopicPartition

from backend.bus.kafka import (ARTICLES, CANDLES, DECODERS, IMPACTS, BusError, KafkaPublisher, Record,
                               SinkConsumer, consumer_config)
from backend.bus.schema import SchemaError
from backend.bus.security import PLAINTEXT, KafkaSecurity
from backend.model import Article, Candle, NewsImpact
from backend.processing.archiver import Archiver
from backend.sources.base import SourceState, StatusTracker
from backend.stores.base import StoreError
from backend.stores.influx import InfluxStore

log = logging.getLogger(__name__)


def group_for(kind: str, destination: str) -> str:
    """One consumer group per destination: a new bucket or archive is filled from the start of the topics."""
    return f"tickerwire-{kind}-sink-{uuid.uuid5(uuid.NAMESPACE_URL, destination).hex[:12]}"


def run_until(stop: threading.Event, make: Callable[[], "InfluxSink | ArchiveSink"], tracker: StatusTracker) -> None:
    """Poll a sink until ``stop``; after an error it is recreated, so it resumes from its last commit."""
    sink = make()
    try:
        while not stop.is_set():
            try:
                sink.poll_once(timeout=0.2)
            except (BusError, StoreError) as exc:
                tracker.set(SourceState.BACKING_OFF, str(exc))
                sink.close()
                stop.wait(1.0)
                sink = make()
    finally:
        sink.close()


class InfluxSink:
    """Kafka → InfluxDB: upsert, flush, and only then commit (at-least-once; points are idempotent)."""

    def __init__(self, bootstrap: str, store: InfluxStore, dead_letters: KafkaPublisher, tracker: StatusTracker,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._store = store
        self._tracker = tracker
        group = group_for("influx", f"{store.settings.url}/{store.settings.bucket}")
        self._consumer = SinkConsumer(bootstrap, group, [CANDLES, ARTICLES, IMPACTS], self._write,
                                      dead_letters=dead_letters, security=security)

    def _write(self, records: list[Record]) -> None:
        candles = [r.value for r in records if isinstance(r.value, Candle)]
        articles = [r.value for r in records if isinstance(r.value, Article)]
        impacts = [r.value for r in records if isinstance(r.value, NewsImpact)]
        if candles:
            self._store.upsert_candles(candles)
        if articles:
            self._store.upsert_articles(articles)
        if impacts:
            self._store.upsert_impacts(impacts)
        self._store.flush()  # raises StoreError when InfluxDB is down: offsets stay uncommitted
        self._tracker.count(len(records))

    def poll_once(self, timeout: float) -> None:
        self._consumer.poll_once(timeout=timeout)

    def close(self) -> None:
        self._consumer.close()


class ArchiveSink:
    """Kafka → Iceberg: candles and articles batched by the archiver; offsets committed once it holds them."""

    def __init__(self, bootstrap: str, archiver: Archiver, tracker: StatusTracker,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._archiver = archiver
        self._tracker = tracker
        self._consumer = Consumer(consumer_config(bootstrap, group_for("archive", archiver.where), security))
        self._consumer.subscribe([CANDLES, ARTICLES])
        self._uncommitted: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset to commit

    def poll_once(self, timeout: float) -> None:
        candles: list[Candle] = []
        articles: list[Article] = []
        for msg in self._consumer.consume(5_000, timeout):
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise BusError(f"archive sink consumer failed: {err.str()}")
                continue
            self._uncommitted[(msg.topic(), msg.partition())] = msg.offset() + 1
            if msg.value() is None:
                continue
            try:
                value = DECODERS[msg.topic()](msg.value())
            except SchemaError:
                continue  # the InfluxDB sink dead-letters it with its reason
            if isinstance(value, Candle):
                candles.append(value)
            elif isinstance(value, Article):
                articles.append(value)
        if candles or articles:
            self._archiver.add(candles, articles)  # appends when its interval is up
        elif self._archiver.due():
            self._archiver.flush()
        if self._uncommitted and not self._archiver.pending:
            self._commit()
        if self._archiver.last_error:
            self._tracker.set(SourceState.BACKING_OFF, f"archive unavailable ({self._archiver.last_error}); "
                              "kept in Kafka until it is back")
        elif self._tracker.status.state is not SourceState.RUNNING:
            self._tracker.set(SourceState.RUNNING, f"archiving to {self._archiver.where}")

    def _commit(self) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)
        self._tracker.count(len(offsets))
        self._uncommitted.clear()

    def close(self) -> None:
        """Append what is pending; commit if that worked; leave the group."""
        try:
            if self._archiver.flush() and self._uncommitted:
                self._commit()
        finally:
            self._consumer.close()
