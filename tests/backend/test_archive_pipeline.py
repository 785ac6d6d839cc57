"""The embedded pipeline feeds the Iceberg archive; history and exports reach back into it."""

from __future__ import annotations

import csv
import io

from helpers import SAMPLE_SESSION, T0, embedded_pipeline, sample_bars

from app.cli import main
from backend.model import Candle, Timeframe
from backend.processing.aggregator import aggregate
from backend.sources.demo import ReplaySource
from backend.stores.iceberg_archive import IcebergArchive
from backend.stores.sqlite import SqliteStore
from backend.watchlist import default_watch_item
from backend.pipeline.runtime import FeedChoice, archive_path, store_path

OLD = T0 - 400 * 86_400_000  # more than a year before the sample session


def _old_candles():
    return [Candle("AAPL", Timeframe.M1, OLD + i * 60_000, 1, 2, 0.5, 1.5, 10, 1.2, 1) for i in range(30)]


def test_pipeline_archives_what_it_stores(tmp_path):
    items = [default_watch_item(s) for s in ("AAPL", "AMZN", "BRK.B")]
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", items, lambda _: [ReplaySource(SAMPLE_SESSION, speed=0)],
                        archive_dir=tmp_path / "archive")
    pipeline.start()
    expected = aggregate(sample_bars())
    import time
    deadline = time.monotonic() + 20
    while len(pipeline.load_candles("AAPL", Timeframe.M1).result()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    pipeline.stop()  # flushes the archive
    archive = IcebergArchive.local(tmp_path / "archive")
    archived = {c.key: c for s in ("AAPL", "AMZN", "BRK.B") for tf in Timeframe for c in archive.candles(s, tf)}
    assert archived.keys() == expected.keys()
    assert archived[("AAPL", Timeframe.M1, 1738593120000)].volume == 229812  # the correction, once


def test_history_older_than_the_hot_store_comes_from_the_archive(tmp_path):
    IcebergArchive.local(tmp_path / "archive").append_candles(_old_candles())
    store = SqliteStore(tmp_path / "store.sqlite")
    store.upsert_candles(_old_candles())
    store.close()
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", [default_watch_item("AAPL")], lambda _: [],
                        archive_dir=tmp_path / "archive", hot_retention_days=30)
    pipeline.start()
    try:
        series = pipeline.load_candles("AAPL", Timeframe.M1).result()
    finally:
        pipeline.stop()
    assert SqliteStore(tmp_path / "store.sqlite").candles("AAPL", Timeframe.M1) == []  # retention applied
    assert list(series.start) == [c.start_ms for c in _old_candles()]  # … yet the chart still gets them


def test_export_reads_the_archive_for_ranges_older_than_the_hot_store(capsys):
    IcebergArchive.local(archive_path(FeedChoice("live"))).append_candles(_old_candles())
    store = SqliteStore(store_path(FeedChoice("live")))
    store.upsert_candles(aggregate(sample_bars()).values())
    store.close()
    assert main(["export", "candles", "--symbol", "AAPL", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    assert len(rows) == 30 + 6
    assert rows[0][0].startswith("2023-12") and rows[-1][0] == "2025-02-03T14:36:00Z"
