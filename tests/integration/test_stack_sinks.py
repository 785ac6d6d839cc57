"""The stack's sinks on real services (Kafka, influxd, an Iceberg catalog): a sink that could not write a
stretch of a topic leaves nothing of it behind, so an old version of a candle can never land after the
newer one that the consumer group's next reader wrote.

The failure these stand for: two sinks share a consumer group (the app's and ``collect``'s, or the stack's
sink process and an app); InfluxDB or the archive goes away; one sink keeps the partial candle it read,
the partition moves to the other sink, which writes the finished candle; when the destination is back the
first sink posts what it kept — and the chart shows a 5-minute candle with half its volume. Seen once in
the Docker stack's fault test (Kafka, the TaskManager and InfluxDB killed mid-stream).
"""

from __future__ import annotations

import time
import uuid

import pytest
from helpers import T0

from backend.bus import schema
from backend.bus.kafka import CANDLES, COMMIT_TIMEOUT_S, BusUnavailable, KafkaPublisher, SinkConsumer, ensure_topics
from backend.bus.topics import default_topics
from backend.model import Candle, Timeframe
from backend.pipeline.stack_sinks import ArchiveSink, InfluxSink
from backend.processing.archiver import Archiver
from backend.sources.base import StatusTracker
from backend.stores.base import StoreError
from backend.stores.iceberg_archive import ArchiveConfig, IcebergArchive
from backend.stores.influx import InfluxSettings, InfluxStore
from stack.local.influxdb import InfluxServer
from stack.local.kafka import KafkaBroker

pytestmark = pytest.mark.integration


def five_minutes(symbol: str, minutes: int) -> Candle:
    """A 5m candle as the candle job sends it after ``minutes`` of its five minutes (volume grows with each)."""
    return Candle(symbol, Timeframe.M5, T0, 100.0, 101.0 + minutes, 99.0, 100.0 + minutes, 1000.0 * minutes,
                  100.5, 10 * minutes)


def publish(bootstrap: str, candle: Candle) -> None:
    publisher = KafkaPublisher(bootstrap)
    publisher.produce(CANDLES, schema.candle_key(candle), schema.encode_candle(candle))
    publisher.flush(30)


def poll_until(sink, done, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the sink did not get there in time"
        sink.poll_once(timeout=0.5)


def test_an_influx_sink_that_failed_leaves_nothing_to_overwrite_the_next_readers_newer_candle(
        kafka_broker, influxd_binary, tmp_path):
    symbol = f"OW{uuid.uuid4().hex[:6].upper()}"
    server = InfluxServer(influxd_binary, root=tmp_path / "influx").start()
    settings = InfluxSettings(url=server.url, token="tickerwire:unused", bucket=f"o_{uuid.uuid4().hex[:10]}/hot",
                              retention_days=None, max_retries=1, retry_base_s=0.01, timeout_ms=2000)
    first_store = InfluxStore(settings)
    reader = InfluxStore(settings)
    try:
        first = InfluxSink(kafka_broker.bootstrap_servers, first_store, KafkaPublisher(kafka_broker.bootstrap_servers),
                           StatusTracker("InfluxDB"))
        caught_up = five_minutes(f"{symbol}X", 1)  # the topic holds other tests' candles: read to its end first
        publish(kafka_broker.bootstrap_servers, caught_up)
        poll_until(first, lambda: reader.candles(caught_up.symbol, Timeframe.M5) == [caught_up])
        server.stop(keep_data=True)
        publish(kafka_broker.bootstrap_servers, five_minutes(symbol, 3))
        with pytest.raises(StoreError, match="unreachable"):
            poll_until(first, lambda: False)
        first.close()  # as run_until does after an error: the group's next reader starts at the last commit

        server.start()
        publish(kafka_broker.bootstrap_servers, five_minutes(symbol, 5))
        second = InfluxSink(kafka_broker.bootstrap_servers, reader, KafkaPublisher(kafka_broker.bootstrap_servers),
                            StatusTracker("InfluxDB"))
        try:
            poll_until(second, lambda: reader.candles(symbol, Timeframe.M5) == [five_minutes(symbol, 5)])
        finally:
            second.close()
        first_store.close()  # whatever it still held is posted now

        assert reader.candles(symbol, Timeframe.M5) == [five_minutes(symbol, 5)]
    finally:
        reader.close()
        server.stop()


def test_an_archive_sink_that_could_not_append_leaves_nothing_to_overwrite_the_next_readers_newer_candle(
        kafka_broker, tmp_path):
    symbol = f"OA{uuid.uuid4().hex[:6].upper()}"
    (tmp_path / "archive").mkdir()
    where = str(tmp_path / "archive")
    properties = ArchiveConfig(kind="sql", warehouse=where).catalog_properties()
    archive_up = False

    def open_for_the_first_sink():
        if not archive_up:
            raise StoreError("the archive is down (test)")
        return IcebergArchive.from_properties(properties)

    first_archiver = Archiver(open_for_the_first_sink, where, interval_s=0.0)
    publish(kafka_broker.bootstrap_servers, five_minutes(symbol, 3))
    first = ArchiveSink(kafka_broker.bootstrap_servers, first_archiver, StatusTracker("Archive"))
    poll_until(first, lambda: first_archiver.holds(five_minutes(symbol, 3).key))
    first.close()  # the archive is still down: its offsets stay uncommitted for the next reader

    publish(kafka_broker.bootstrap_servers, five_minutes(symbol, 5))
    second_archiver = Archiver(lambda: IcebergArchive.from_properties(properties), where, interval_s=0.0)
    second = ArchiveSink(kafka_broker.bootstrap_servers, second_archiver, StatusTracker("Archive"))
    archive = IcebergArchive.from_properties(properties)
    try:
        poll_until(second, lambda: archive.candles(symbol, Timeframe.M5) == [five_minutes(symbol, 5)])
    finally:
        second.close()
    archive_up = True
    first_archiver.flush()  # the first sink's process appends whatever it still holds (its next sink, or at exit)

    assert archive.candles(symbol, Timeframe.M5) == [five_minutes(symbol, 5)]


def test_a_commit_the_broker_cannot_take_is_bus_unavailable_and_the_batch_is_read_again(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka")  # its own broker: this test kills it
    broker.start()
    sinks: list[SinkConsumer] = []
    try:
        ensure_topics(broker.bootstrap_servers, default_topics(partitions=1))
        candle = five_minutes("COMMIT", 5)
        publish(broker.bootstrap_servers, candle)
        written: list[Candle] = []

        def write_then_lose_the_broker(records) -> None:
            written.extend(r.value for r in records)
            broker.kill()  # written, but the offsets cannot be committed any more

        # A short session: the restarted broker's group still lists the crashed member until the session ends.
        quick = {"session.timeout.ms": 6_000, "heartbeat.interval.ms": 1_000}
        sinks.append(SinkConsumer(broker.bootstrap_servers, "commit-lost", [CANDLES], write_then_lose_the_broker,
                                  **quick))
        started = time.monotonic()
        deadline = started + 60
        with pytest.raises(BusUnavailable, match="could not commit"):
            while time.monotonic() < deadline:  # a KafkaException here would end the sink's thread for good
                sinks[0].poll_once(timeout=0.5)
        # Within the commit's bound: librdkafka's own synchronous commit once waited here for over 12 minutes.
        assert time.monotonic() - started < COMMIT_TIMEOUT_S + 15
        assert written == [candle]

        broker.start()  # same port, same data
        sinks.pop().close()  # as run_until does after an error: the group's next reader starts at the last commit
        sinks.append(SinkConsumer(broker.bootstrap_servers, "commit-lost", [CANDLES],
                                  lambda records: written.extend(r.value for r in records), **quick))
        deadline = time.monotonic() + 60
        while len(written) < 2 and time.monotonic() < deadline:
            sinks[0].poll_once(timeout=0.5)
        assert written == [candle, candle]  # at least once: the next reader writes it again (an upsert)
    finally:
        for sink in sinks:
            sink.close()
        broker.stop()
