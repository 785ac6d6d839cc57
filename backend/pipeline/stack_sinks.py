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

Neither keeps anything it read past the moment its partitions go to another member of the group
(several sinks may share it: the stack's sink process, an app, ``collect``): what failed to be written
is forgotten, never posted later, since the next reader writes it again — and possibly a newer version
of the same candle, which a late post of the old one would overwrite.

:class:`SinkService` runs both, plus the hot store's archive-first retention, on threads of their
own: inside a stack pipeline (``run_sink``), or as a process of the stack's
(``python -m backend.pipeline.stack_sinks``), so the hot store and the archive fill whether or not
an app is open.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from confluent_kafka import Consumer, TopicPartition

from backend import gc_policy
from backend.bus.kafka import (ARTICLES, CANDLES, DECODERS, IMPACTS, BusError, KafkaPublisher, Record,
                               SinkConsumer, commit_offsets, consumer_config)
from backend.bus.schema import SchemaError
from backend.bus.security import PLAINTEXT, KafkaSecurity
from backend.model import Article, Candle, NewsImpact
from backend.processing.archiver import Archiver
from backend.processing.retention import HotStoreRetention
from backend.sources.base import SourceState, StatusTracker
from backend.stores.base import StoreError
from backend.stores.influx import InfluxSettings, InfluxStore

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


#: Records the InfluxDB sink reads and writes at a time: influxd costs less per point in larger requests, and a
#: write of two requests encodes the second while the first is posted (``python -m bench --only influx``).
INFLUX_RECORDS_PER_WRITE = 20_000


class InfluxSink:
    """Kafka → InfluxDB: write each batch through, and only then commit (at-least-once; points are idempotent)."""

    def __init__(self, bootstrap: str, store: InfluxStore, dead_letters: KafkaPublisher, tracker: StatusTracker,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._store = store
        self._tracker = tracker
        group = group_for("influx", f"{store.settings.url}/{store.settings.bucket}")
        self._consumer = SinkConsumer(bootstrap, group, [CANDLES, ARTICLES, IMPACTS], self._write,
                                      dead_letters=dead_letters, security=security)

    def _write(self, records: list[Record]) -> None:
        # Written through, not buffered: raising leaves nothing behind that could land after a newer version
        # written by the group's next reader of these offsets (see InfluxStore.write).
        self._store.write(candles=[r.value for r in records if isinstance(r.value, Candle)],
                          articles=[r.value for r in records if isinstance(r.value, Article)],
                          impacts=[r.value for r in records if isinstance(r.value, NewsImpact)])
        self._tracker.count(len(records))

    def poll_once(self, timeout: float) -> None:
        self._consumer.poll_once(max_messages=INFLUX_RECORDS_PER_WRITE, timeout=timeout)

    def close(self) -> None:
        self._consumer.close()


class ArchiveSink:
    """Kafka → Iceberg: candles and articles batched by the archiver; offsets committed once it holds them.

    Rows held for the next append belong to this consumer's partitions only while it has them: when the
    group takes them away (a rebalance, or this sink closing), the rows are appended and committed first,
    or else forgotten — the new owner reads them again from the last commit. Appended later, an old
    version would land after the new owner's newer one, and the archive keeps the latest append.
    """

    def __init__(self, bootstrap: str, archiver: Archiver, tracker: StatusTracker,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._archiver = archiver
        self._tracker = tracker
        self._consumer = Consumer(consumer_config(bootstrap, group_for("archive", archiver.where), security))
        self._consumer.subscribe([CANDLES, ARTICLES], on_revoke=self._on_revoke)
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
        # Appended but not committed: BusUnavailable, and read and appended again later (latest wins).
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()]
        commit_offsets(self._consumer, offsets)
        self._tracker.count(len(offsets))
        self._uncommitted.clear()

    def _let_go(self) -> None:
        """Append and commit what is held, or forget it (see the class docstring)."""
        try:
            if self._archiver.flush():
                if self._uncommitted:
                    self._commit()
                return
        except BusError as exc:
            log.warning("%s; the next owner of its partitions appends that stretch again", exc)
            return
        dropped = self._archiver.discard()
        log.warning("archive unavailable: %d rows not appended are left to the next reader of their Kafka "
                    "offsets (%s)", dropped, self._archiver.last_error)
        self._uncommitted.clear()

    def _on_revoke(self, consumer, partitions) -> None:
        self._let_go()

    def close(self) -> None:
        """Append what is pending and commit it, or forget it; leave the group."""
        try:
            self._let_go()
        finally:
            self._consumer.close()


#: How often the hot store is trimmed to its retention (archive first).
RETENTION_INTERVAL_S = 3600.0


class SinkService:
    """The sinks and the hot store's retention, on threads of their own (see the module docstring).

    Args:
        bootstrap: Kafka's ``host:port[,…]``.
        store: The stack's InfluxDB (its own expiry off: retention here deletes only what the archive holds).
        dead_letters: Where undecodable records go.
        archiver: The stack's archive (None: no archive, so the hot store keeps everything).
        retention_days: Days the hot store keeps (None: all).
        security: How the sinks' Kafka consumers log in (TLS, SASL).
    """

    def __init__(self, bootstrap: str, store: InfluxStore, dead_letters: KafkaPublisher, archiver: Archiver | None,
                 retention_days: int | None, security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._store = store
        self._dead_letters = dead_letters
        self._archiver = archiver
        self._retention = HotStoreRetention(store, archiver, retention_days) if retention_days else None
        self.influx = StatusTracker("InfluxDB")
        self.archive = StatusTracker("Archive")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def statuses(self) -> list:
        return [self.influx.status] + ([self.archive.status] if self._archiver is not None else [])

    def start(self) -> None:
        self._spawn("tickerwire-influx-sink", lambda: run_until(
            self._stop, lambda: InfluxSink(self._bootstrap, self._store, self._dead_letters, self.influx,
                                           self._security),
            self.influx))
        if self._archiver is not None:
            self._spawn("tickerwire-archive-sink", lambda: run_until(
                self._stop, lambda: ArchiveSink(self._bootstrap, self._archiver, self.archive, self._security),
                self.archive))
        if self._retention is not None:
            self._spawn("tickerwire-retention", self._retain_hourly)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the threads (the archive sink appends what it holds and commits first)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def release(self) -> None:
        """Drop the (shared) dead-letter publisher once stopped, so its client can go."""
        self._dead_letters = None

    def enforce_retention(self) -> None:
        """InfluxDB trimmed to the retention, archive first."""
        try:
            outcome = self._retention.enforce(int(time.time() * 1000))
        except StoreError as exc:
            log.warning("hot store retention skipped: %s", exc)
            return
        if outcome.paused:
            self.archive.set(SourceState.BACKING_OFF, f"retention paused, nothing deleted: {outcome.paused}")

    def _retain_hourly(self) -> None:
        while not self._stop.is_set():
            self.enforce_retention()
            self._stop.wait(RETENTION_INTERVAL_S)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()


def main(argv: list[str] | None = None) -> int:
    """``python -m backend.pipeline.stack_sinks``: the sinks as a service of the stack (until SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m backend.pipeline.stack_sinks", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--influx-url", required=True)
    parser.add_argument("--influx-bucket", required=True)
    parser.add_argument("--influx-org", default="tickerwire")
    parser.add_argument("--influx-token-file", type=Path, help="a file holding the token (user:password on 1.8)")
    parser.add_argument("--archive-file", type=Path, help="a JSON file of the archive's pyiceberg catalog properties")
    parser.add_argument("--retention-days", type=int, default=None)
    args = parser.parse_args(argv)
    gc_policy.apply()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.influx_token_file.read_text().strip() if args.influx_token_file else "tickerwire:local"
    store = InfluxStore(InfluxSettings(url=args.influx_url, token=token, org=args.influx_org,
                                       bucket=args.influx_bucket, retention_days=None))
    archiver = None
    if args.archive_file:
        properties = json.loads(args.archive_file.read_text())

        def open_archive():
            from backend.processing.archive_process import ArchiveProcess

            return ArchiveProcess(properties=properties)

        archiver = Archiver(open_archive, properties.get("uri", "").split("@")[-1])
    service = SinkService(args.bootstrap_servers, store, KafkaPublisher(args.bootstrap_servers), archiver,
                          args.retention_days)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    service.start()
    log.info("sinks running: Kafka %s → InfluxDB %s%s", args.bootstrap_servers, args.influx_url,
             " and the archive" if archiver else "")
    stop.wait()
    service.stop()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
