"""Hot-store retention against a real influxd: the bucket's policy, exact deletion, expired input."""

from __future__ import annotations

import time

import pytest

from backend.model import Article, Candle, Timeframe
from backend.stores.retention import DAY_MS, BucketName, _series_values

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def candle(start_ms: int) -> Candle:
    start_ms -= start_ms % 60_000
    return Candle("AAPL", Timeframe.M1, start_ms, 10.0, 11.0, 9.0, 10.5, 100.0, 10.2, 5)


def policies(store) -> dict[str, list]:
    database = BucketName.parse(store.settings.bucket).database
    answer = store.retention.influxql(f'SHOW RETENTION POLICIES ON "{database}"')
    return {row[0]: row for row in _series_values(answer)}


def test_bucket_is_created_with_the_retention_in_days_and_updated_on_change(influx_store_factory):
    store = influx_store_factory(bucket="tw_retention/hot", retention_days=3)
    name, duration, shard_duration, _replicas, default = policies(store)["hot"][:5]
    assert (name, duration, shard_duration, default) == ("hot", "72h0m0s", "1h0m0s", True)

    influx_store_factory(bucket="tw_retention/hot", retention_days=5)

    assert policies(store)["hot"][1] == "120h0m0s"


def test_enforce_deletes_exactly_what_is_older_than_n_days(influx_store_factory):
    now = time.time_ns() // 1_000_000
    store = influx_store_factory(retention_days=3)
    old, recent, fresh = candle(now - 60 * HOUR_MS), candle(now - 24 * HOUR_MS), candle(now - HOUR_MS)
    old_news = Article("old", now - 60 * HOUR_MS, "old", "u", "business", symbols=frozenset({"AAPL"}))
    new_news = Article("new", now - HOUR_MS, "new", "u", "business", symbols=frozenset({"AAPL"}))
    store.upsert_candles([old, recent, fresh])
    store.upsert_articles([old_news, new_news])
    assert store.candles("AAPL", Timeframe.M1) == [old, recent, fresh]

    cutoff = store.enforce_retention(now_ms=now + 24 * HOUR_MS)  # as if a day had passed

    assert cutoff == now + 24 * HOUR_MS - 3 * DAY_MS
    assert store.candles("AAPL", Timeframe.M1) == [recent, fresh]
    assert [a.id for a in store.articles()] == ["new"]


def test_points_already_past_retention_are_counted_not_written_nor_dead_lettered(influx_store_factory):
    now = time.time_ns() // 1_000_000
    store = influx_store_factory(retention_days=2, clock_ms=lambda: now)

    store.upsert_candles([candle(now - 3 * DAY_MS), candle(now - HOUR_MS)])

    assert store.expired_skipped == 1
    assert store.dead_letters == []
    assert store.candles("AAPL", Timeframe.M1) == [candle(now - HOUR_MS)]


def test_keep_forever_means_no_deletion(influx_store_factory):
    store = influx_store_factory(retention_days=None)
    store.upsert_candles([candle(1_748_871_000_000)])

    assert store.enforce_retention() is None
    assert len(store.candles("AAPL", Timeframe.M1)) == 1


def test_the_maintenance_thread_deletes_what_aged_past_retention(influx_store_factory):
    now = time.time_ns() // 1_000_000
    writer = influx_store_factory(retention_days=30)
    bucket = writer.settings.bucket
    writer.upsert_candles([candle(now - 3 * DAY_MS), candle(now - HOUR_MS)])

    kept = influx_store_factory(bucket=bucket, retention_days=2, check_interval_s=0.05)

    deadline = time.monotonic() + 20
    while len(kept.candles("AAPL", Timeframe.M1)) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept.candles("AAPL", Timeframe.M1) == [candle(now - HOUR_MS)]
