"""The InfluxDB hot store against a real influxd: round trips, idempotent replays, ms precision, batching."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.model import Article, Candle, Timeframe
from backend.stores.influx_queries import flux_string

pytestmark = pytest.mark.integration

# 2025-06-02 13:30 UTC = 09:30 in New York, a Monday open.
OPEN_MS = int(dt.datetime(2025, 6, 2, 13, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
MIN = 60_000


def session(symbol: str, n: int = 390, tf: Timeframe = Timeframe.M1, base: float = 100.0) -> list[Candle]:
    """A trading day of realistic-looking 1m candles (prices with cents, fractional VWAP)."""
    out = []
    for i in range(n):
        close = round(base + (i % 17) * 0.13 - (i % 5) * 0.07, 2)
        out.append(Candle(symbol, tf, OPEN_MS + i * tf.ms, close - 0.05, close + 0.11, close - 0.17, close,
                          float(1000 + 37 * i), round(close - 0.013, 4), 10 + i % 50))
    return out


def raw_rows(store, flux: str) -> list[dict[str, str]]:
    """Run Flux directly through the store's client (to see what is physically stored)."""
    from backend.stores.influx_queries import csv_rows

    return list(csv_rows(store._query(flux)))


def count_points(store, measurement: str) -> int:
    bucket = flux_string(store.settings.bucket)
    rows = raw_rows(store, f'from(bucket: {bucket}) |> range(start: 1970-01-01T00:00:00Z, stop: 2200-01-01T00:00:00Z)'
                           f' |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "close"'
                           f' or r._measurement == "{measurement}" and r._field == "id")'
                           ' |> group() |> count()')
    return int(rows[0]["_value"]) if rows else 0


def test_candles_round_trip_exactly(influx_store):
    aapl, msft = session("AAPL"), session("MSFT", base=400.0)
    five = session("AAPL", 78, Timeframe.M5)
    influx_store.upsert_candles(aapl + msft + five)

    assert influx_store.candles("AAPL", Timeframe.M1) == aapl
    assert influx_store.candles("MSFT", Timeframe.M1) == msft
    assert influx_store.candles("AAPL", Timeframe.M5) == five


def test_range_is_half_open(influx_store):
    day = session("AAPL", 10)
    influx_store.upsert_candles(day)

    got = influx_store.candles("AAPL", Timeframe.M1, OPEN_MS + 2 * MIN, OPEN_MS + 5 * MIN)

    assert got == day[2:5]


def test_replay_and_correction_never_duplicate(influx_store):
    day = session("AAPL", 60)
    influx_store.upsert_candles(day)
    corrected = Candle("AAPL", Timeframe.M1, day[7].start_ms, 1.0, 2.0, 0.5, 1.5, 9.0, 1.25, 3)

    influx_store.upsert_candles(day)  # a full replay
    influx_store.upsert_candles([corrected])  # then a late correction

    got = influx_store.candles("AAPL", Timeframe.M1)
    assert len(got) == 60
    assert got[7] == corrected
    assert got[:7] + got[8:] == day[:7] + day[8:]
    assert count_points(influx_store, "candles") == 60


def test_timestamps_keep_millisecond_precision(influx_store):
    odd = [OPEN_MS + 1, OPEN_MS + 999, OPEN_MS + 60_123, 1_767_225_599_999]  # last: 2025-12-31 23:59:59.999 UTC
    candles = [Candle("BRK.B", Timeframe.M1, t, 1, 1, 1, 1, 1, 1, 1) for t in odd]
    influx_store.upsert_candles(candles)

    got = influx_store.candles("BRK.B", Timeframe.M1)

    assert [c.start_ms for c in got] == odd
    stored = raw_rows(influx_store, f"from(bucket: {flux_string(influx_store.settings.bucket)})"
                                    " |> range(start: 2025-01-01T00:00:00Z, stop: 2026-01-01T00:00:00Z)"
                                    ' |> filter(fn: (r) => r._field == "close") |> keep(columns: ["_time"])')
    assert [r["_time"] for r in stored] == [
        "2025-06-02T13:30:00.001Z", "2025-06-02T13:30:00.999Z", "2025-06-02T13:31:00.123Z",
        "2025-12-31T23:59:59.999Z",
    ]


def test_articles_round_trip_merge_and_filter_by_symbol(influx_store):
    first = Article("business/live/2025/jun/02/markets", OPEN_MS, 'Stocks "rally", AI = up\nsecond line', "https://x/1",
                    "business", summary="Nvidia, Apple\\Microsoft", symbols=frozenset({"NVDA", "AAPL"}),
                    queries=frozenset({"Nvidia", "Apple"}))
    later = Article(first.id, OPEN_MS, "Stocks rally (updated)", "https://x/1", "business",
                    symbols=frozenset({"MSFT"}), queries=frozenset({"Microsoft"}), updated_ms=OPEN_MS + 10 * MIN)
    other = Article("technology/2025/jun/02/tesla", OPEN_MS + 5 * MIN, "Tesla", "https://x/2", "technology",
                    symbols=frozenset({"TSLA"}))
    influx_store.upsert_articles([first, other])
    assert influx_store.articles(symbols=["AAPL"]) == [first]

    influx_store.upsert_articles([later])

    merged = first.merged(later)
    assert influx_store.articles(symbols=["MSFT"]) == [merged]
    assert influx_store.articles(symbols=["NVDA"])[0].symbols == frozenset({"NVDA", "AAPL", "MSFT"})
    assert influx_store.articles() == [merged, other]
    assert influx_store.articles(OPEN_MS + MIN, OPEN_MS + 6 * MIN) == [other]
    assert influx_store.articles(symbols=[]) == []


def test_a_write_larger_than_a_batch_is_stored_when_it_returns(influx_store_factory):
    store = influx_store_factory(batch_size=1_000)
    day = session("AAPL", 390) + session("MSFT", 390) + session("NVDA", 390)

    store.upsert_candles(day)

    assert store.points_written == 1_170  # two requests, nothing left waiting
    assert count_points(store, "candles") == 1_170


def test_corrections_across_batches_land_in_order(influx_store_factory):
    store = influx_store_factory(batch_size=100)
    day = session("AAPL", 390)
    for version in range(5):  # five successive corrections of every candle, in many requests
        store.upsert_candles([Candle(c.symbol, c.timeframe, c.start_ms, c.open, c.high, c.low, c.close + version,
                                     c.volume, c.vwap, c.trades) for c in day])

    got = store.candles("AAPL", Timeframe.M1)
    assert [c.close for c in got] == [c.close + 4 for c in day]
    assert store.points_written == 5 * 390
