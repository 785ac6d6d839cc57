"""Tests of the Iceberg archive on a real pyiceberg SQL catalog and file warehouse (no server needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError
from backend.stores.iceberg_archive import ArchiveConfig, IcebergArchive
from backend.stores.iceberg_tables import DAY_MS, day_of

# 2025-06-02 13:30 UTC = 09:30 New York, a Monday open.
OPEN_MS = int(dt.datetime(2025, 6, 2, 13, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
MIN = 60_000


def candle(symbol: str, start_ms: int, close: float = 100.0, tf: Timeframe = Timeframe.M1) -> Candle:
    return Candle(symbol, tf, start_ms, close - 1, close + 1, close - 2, close, 1_000.0, close - 0.5, 12)


def article(aid: str, published_ms: int, symbols: set[str], title: str = "t", updated_ms: int = 0) -> Article:
    return Article(
        id=aid,
        published_ms=published_ms,
        title=title,
        url=f"https://www.theguardian.com/{aid}",
        section="business",
        summary="s",
        symbols=frozenset(symbols),
        updated_ms=updated_ms,
    )


@pytest.fixture
def archive(tmp_path) -> IcebergArchive:
    return IcebergArchive.local(tmp_path / "warehouse")


def test_round_trip_keeps_every_field_and_orders_by_start(archive):
    written = [candle("AAPL", OPEN_MS + i * MIN, 100 + i) for i in range(5)][::-1]
    archive.append_candles(written + [candle("MSFT", OPEN_MS, 400.0), candle("AAPL", OPEN_MS, 7.0, Timeframe.M5)])

    got = archive.candles("AAPL", Timeframe.M1)

    assert got == sorted(written, key=lambda c: c.start_ms)
    assert archive.candles("AAPL", Timeframe.M5) == [candle("AAPL", OPEN_MS, 7.0, Timeframe.M5)]


def test_range_is_half_open_and_crosses_day_partitions(archive):
    day_end = (day_of(OPEN_MS) + 1) * DAY_MS
    written = [candle("AAPL", day_end + i * MIN, 10 + i) for i in range(-3, 3)]
    archive.append_candles(written)

    got = archive.candles("AAPL", Timeframe.M1, day_end - 2 * MIN, day_end + 2 * MIN)

    assert [c.start_ms for c in got] == [day_end - 2 * MIN, day_end - MIN, day_end, day_end + MIN]
    assert set(archive.file_counts()) == {day_of(OPEN_MS), day_of(OPEN_MS) + 1}


def test_appending_the_same_candle_twice_reads_once_with_the_latest_values(archive):
    archive.append_candles([candle("AAPL", OPEN_MS, 100.0), candle("AAPL", OPEN_MS + MIN, 101.0)])
    archive.append_candles([candle("AAPL", OPEN_MS, 100.5)])  # a late correction
    archive.append_candles([candle("AAPL", OPEN_MS + MIN, 101.0)])  # a replay

    got = archive.candles("AAPL", Timeframe.M1)

    assert [(c.start_ms, c.close) for c in got] == [(OPEN_MS, 100.5), (OPEN_MS + MIN, 101.0)]


def test_duplicates_within_one_batch_keep_the_last(archive):
    archive.append_candles([candle("AAPL", OPEN_MS, 1.0), candle("AAPL", OPEN_MS, 2.0)])

    assert [c.close for c in archive.candles("AAPL", Timeframe.M1)] == [2.0]


def test_buffered_adds_are_invisible_until_flush(archive):
    archive.add_candles([candle("AAPL", OPEN_MS)])
    assert archive.buffered_rows == 1
    assert archive.candles("AAPL", Timeframe.M1) == []

    archive.flush()

    assert archive.buffered_rows == 0
    assert len(archive.candles("AAPL", Timeframe.M1)) == 1


def test_buffer_flushes_itself_when_full(tmp_path):
    archive = IcebergArchive.local(tmp_path / "w", max_buffer_rows=10)
    archive.add_candles(candle("AAPL", OPEN_MS + i * MIN) for i in range(9))
    assert archive.candles("AAPL", Timeframe.M1) == []

    archive.add_candles([candle("AAPL", OPEN_MS + 9 * MIN)])

    assert len(archive.candles("AAPL", Timeframe.M1)) == 10
    assert archive.buffered_rows == 0


def test_compaction_rewrites_a_day_into_one_deduplicated_file(tmp_path):
    archive = IcebergArchive.local(tmp_path / "w", max_files_per_day=100)  # no automatic compaction
    for i in range(6):
        archive.append_candles([candle("AAPL", OPEN_MS + i * MIN, 100 + i), candle("AAPL", OPEN_MS, 50 + i)])
    day = day_of(OPEN_MS)
    assert archive.file_counts()[day] == 6
    before = archive.candles("AAPL", Timeframe.M1)

    archive.compact(OPEN_MS)

    assert archive.file_counts()[day] == 1
    assert archive.candles("AAPL", Timeframe.M1) == before
    assert before[0].close == 55  # the last append's value for the repeated key
    assert archive.candle_rows().num_rows == 6  # physically deduplicated, not just on read


def test_flush_compacts_days_above_the_file_bound(archive):
    for i in range(12):
        archive.append_candles([candle("AAPL", OPEN_MS + i * MIN)])
        assert archive.file_counts()[day_of(OPEN_MS)] <= archive.max_files_per_day

    assert len(archive.candles("AAPL", Timeframe.M1)) == 12
    assert archive.compact_due() == []


def test_compaction_leaves_other_days_alone(tmp_path):
    archive = IcebergArchive.local(tmp_path / "w", max_files_per_day=100)
    for i in range(3):
        archive.append_candles([candle("AAPL", OPEN_MS + i * MIN)])
        archive.append_candles([candle("AAPL", OPEN_MS + DAY_MS + i * MIN)])

    archive.compact(OPEN_MS)

    counts = archive.file_counts()
    assert counts[day_of(OPEN_MS)] == 1
    assert counts[day_of(OPEN_MS) + 1] == 3
    assert len(archive.candles("AAPL", Timeframe.M1)) == 6


def test_articles_merge_sightings_filter_by_symbol_and_range(archive):
    archive.append_articles([article("a1", OPEN_MS, {"AAPL"}, "first")])
    archive.append_articles([article("a1", OPEN_MS, {"MSFT"}, "updated", updated_ms=OPEN_MS + 5 * MIN)])
    archive.append_articles([article("a2", OPEN_MS + MIN, {"TSLA"}), article("a3", OPEN_MS + DAY_MS, {"AAPL"})])

    msft = archive.articles(symbols=["MSFT"])
    assert [(a.id, a.title, a.symbols) for a in msft] == [("a1", "updated", frozenset({"AAPL", "MSFT"}))]
    assert [a.id for a in archive.articles(OPEN_MS, OPEN_MS + DAY_MS)] == ["a1", "a2"]
    assert [a.id for a in archive.articles(symbols=["AAPL"])] == ["a1", "a3"]

    archive.compact(OPEN_MS)
    assert archive.file_counts("news")[day_of(OPEN_MS)] == 1
    assert archive.articles(symbols=["MSFT"]) == msft


def test_data_survives_reopening_the_warehouse(tmp_path):
    IcebergArchive.local(tmp_path / "w").append_candles([candle("AAPL", OPEN_MS)])

    reopened = IcebergArchive.local(tmp_path / "w")

    assert reopened.candles("AAPL", Timeframe.M1) == [candle("AAPL", OPEN_MS)]


def test_rest_config_takes_s3_secrets_from_the_environment_only():
    config = ArchiveConfig(kind="rest", uri="http://127.0.0.1:8181", warehouse="s3://tickerwire/",
                           s3_endpoint="http://127.0.0.1:9000")
    env = {"TICKERWIRE_S3_ACCESS_KEY_ID": "minio", "TICKERWIRE_S3_SECRET_ACCESS_KEY": "secret"}

    props = config.catalog_properties(env)

    assert props == {
        "type": "rest",
        "uri": "http://127.0.0.1:8181",
        "warehouse": "s3://tickerwire/",
        "s3.endpoint": "http://127.0.0.1:9000",
        "s3.path-style-access": "true",
        "s3.region": "us-east-1",
        "s3.access-key-id": "minio",
        "s3.secret-access-key": "secret",
    }


def test_bad_configs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="kind"):
        ArchiveConfig(kind="hive").catalog_properties({})
    with pytest.raises(ValueError, match="uri"):
        ArchiveConfig(kind="rest").catalog_properties({})


def test_unreachable_rest_catalog_raises_store_error():
    config = ArchiveConfig(kind="rest", uri="http://127.0.0.1:9", extra={"rest.request-timeout": "1"})
    with pytest.raises(StoreError, match="catalog"):
        IcebergArchive.from_config(config)


def test_expiring_snapshots_deletes_files_that_compaction_replaced(tmp_path):
    archive = IcebergArchive.local(tmp_path / "w", max_files_per_day=100)
    for i in range(5):
        archive.append_candles([candle("AAPL", OPEN_MS + i * MIN)])
    archive.compact(OPEN_MS)
    parquet = lambda: sorted(tmp_path.rglob("*.parquet"))  # noqa: E731
    assert len(parquet()) == 6  # five appends + the compacted file
    before = archive.candles("AAPL", Timeframe.M1)

    deleted = archive.expire_snapshots(older_than_ms=2**62)

    assert deleted == 5
    assert len(parquet()) == 1
    assert archive.candles("AAPL", Timeframe.M1) == before


def test_archive_honours_the_candle_store_protocol(archive):
    from backend.stores.base import CandleStore

    store: CandleStore = archive
    store.upsert_candles([candle("AAPL", OPEN_MS, 1.0)])
    store.upsert_candles([candle("AAPL", OPEN_MS, 2.0)])
    store.upsert_articles([article("a", OPEN_MS, {"AAPL"})])
    store.flush()

    assert [c.close for c in store.candles("AAPL", Timeframe.M1, OPEN_MS, OPEN_MS + MIN)] == [2.0]
    assert [a.id for a in store.articles(OPEN_MS, OPEN_MS + 1, ["AAPL"])] == ["a"]
