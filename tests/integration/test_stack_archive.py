"""The stack's archive on real services (Kafka, the candle job, influxd): the archive sink appends what the
jobs produce, and InfluxDB's retention deletes only what the archive confirmed holding."""

from __future__ import annotations

import time
import uuid

import pytest
from helpers import T0

from backend.bus.kafka import KafkaPublisher
from backend.model import Candle, Timeframe
from backend.pipeline.core import PipelineCore
from backend.pipeline.stack import StackProcessor
from backend.pipeline.stack_sinks import SinkService
from backend.processing.archiver import Archiver
from backend.processing.aggregator import aggregate
from backend.sources.base import SourceState
from backend.sources.demo import ReplaySource
from backend.stores.iceberg_archive import ArchiveConfig, IcebergArchive
from backend.stores.influx import InfluxSettings
from backend.watchlist import default_watch_item
from test_stack_pipeline import _renamed_session

pytestmark = pytest.mark.integration
SETTLE_S = 180


def _archive(tmp_path):
    """A catalog and warehouse standing in for the stack's (the Docker stack's catalog and S3 are tested there)."""
    (tmp_path / "archive").mkdir(exist_ok=True)
    props = ArchiveConfig(kind="sql", warehouse=str(tmp_path / "archive")).catalog_properties()
    return (lambda: IcebergArchive.from_properties(props)), str(tmp_path / "archive")


def test_the_archive_sink_appends_every_candle_and_article_the_stack_stores(
        kafka_broker, flink_job, influx_server, tmp_path):
    session, symbols, bars = _renamed_session(tmp_path)
    expected = aggregate(bars)
    opener, where = _archive(tmp_path)
    influx = InfluxSettings(url=influx_server.url, token="tickerwire:unused", bucket=f"a_{uuid.uuid4().hex[:10]}/hot",
                            retention_days=None)
    items = [default_watch_item(s) for s in symbols] + [default_watch_item("AMZN")]
    processor = StackProcessor(kafka_broker.bootstrap_servers, influx, open_archive=opener, archive_where=where,
                               archive_interval_s=1.0)
    pipeline = PipelineCore(processor, items, lambda _: [ReplaySource(session, speed=0)])
    pipeline.start()
    try:
        archive = IcebergArchive.from_properties(ArchiveConfig(kind="sql", warehouse=where).catalog_properties())
        deadline = time.monotonic() + SETTLE_S
        found: dict = {}
        while time.monotonic() < deadline:
            found = {c.key: c for s in symbols for tf in Timeframe for c in archive.candles(s, tf)}
            if found.keys() == expected.keys():
                break
            time.sleep(1.0)
        assert found.keys() == expected.keys()
        assert all(found[k][3:] == pytest.approx(expected[k][3:], rel=1e-9) for k in expected)
        assert [a.id for a in archive.articles(symbols=["AMZN"])] == \
            ["technology/2025/feb/03/amazon-cloud-revenue-ai-spending"]
        status = next(s for s in pipeline.statuses() if s.name == "Archive")
        assert status.state is SourceState.RUNNING
    finally:
        pipeline.stop()


def test_influx_retention_deletes_only_what_the_archive_confirmed(kafka_broker, influx_store_factory, tmp_path):
    old = T0 - 400 * 86_400_000
    candles = [Candle("OLDX", Timeframe.M1, old + i * 60_000, 1, 2, 0.5, 1.5, 10, 1.2, 1) for i in range(20)]
    store = influx_store_factory()
    store.upsert_candles(candles)
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory: the archive cannot open")
    down = SinkService(kafka_broker.bootstrap_servers, store, publisher,
                       Archiver(lambda: IcebergArchive.local(blocked), str(blocked)), retention_days=30)
    down.enforce_retention()
    assert len(store.candles("OLDX", Timeframe.M1)) == 20, "the archive is down: nothing deleted"
    assert "retention paused" in next(s for s in down.statuses() if s.name == "Archive").detail
    opener, where = _archive(tmp_path)
    up = SinkService(kafka_broker.bootstrap_servers, store, publisher, Archiver(opener, where), retention_days=30)
    up.enforce_retention()
    assert store.candles("OLDX", Timeframe.M1) == []
    assert [c.start_ms for c in opener().candles("OLDX", Timeframe.M1)] == [c.start_ms for c in candles]
