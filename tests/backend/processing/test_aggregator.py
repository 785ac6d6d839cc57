"""Aggregator semantics: corrections, gaps, out-of-order and late data, seconds → minutes, roll-ups."""

from __future__ import annotations

import random

import pytest
from helpers import T0, bar, sample_bars

from backend.model import Timeframe
from backend.processing.aggregator import CandleAggregator, aggregate
from backend.timeutil import ny_day_start

M = 60_000


def test_am_bar_becomes_its_minute_candle_exactly():
    out = aggregate([bar(o=10, h=12, l=9, c=11, v=500, vw=10.7, z=50)])
    c = out[("AAPL", Timeframe.M1, T0)]
    assert (c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trades) == (10, 12, 9, 11, 500, 10.7, 10)


def test_correction_is_an_upsert_not_a_duplicate():
    bars = sample_bars()
    out = aggregate(bars)
    aapl_minutes = [c for k, c in out.items() if k[0] == "AAPL" and k[1] is Timeframe.M1]
    assert len(aapl_minutes) == 6  # 7 AAPL messages, one of them a correction
    corrected = out[("AAPL", Timeframe.M1, 1738593120000)]
    assert corrected.volume == 229812 and corrected.high == 229.221
    # The roll-ups see the corrected minute, not the original.
    five = out[("AAPL", Timeframe.M5, 1738593000000)]
    assert five.volume == sum(c.volume for c in aapl_minutes if c.start_ms < 1738593300000)


def test_minute_without_trades_has_no_candle():
    out = aggregate(sample_bars())
    brk = sorted(k[2] for k in out if k[0] == "BRK.B" and k[1] is Timeframe.M1)
    assert 1738593180000 not in brk and len(brk) == 5


def test_rollups_merge_open_close_extremes_sums_and_vwap():
    bars = [bar(start=T0 - T0 % (5 * M) + i * M, o=10 + i, h=20 + i, l=5 - i, c=11 + i, v=100 * (i + 1), vw=10 + i)
            for i in range(5)]
    random.Random(1).shuffle(bars)  # out of order
    c = aggregate(bars)[("AAPL", Timeframe.M5, T0 - T0 % (5 * M))]
    assert c.open == 10 and c.close == 15 and c.high == 24 and c.low == 1
    assert c.volume == 1500
    assert c.vwap == pytest.approx(sum((10 + i) * 100 * (i + 1) for i in range(5)) / 1500)


def test_seconds_build_the_minute_and_am_then_wins():
    start = T0
    seconds = [bar(start=start + s * 1000, ev="A", o=10 + s, h=11 + s, l=9 + s, c=10.5 + s, v=10, vw=10 + s)
               for s in range(60)]
    agg = CandleAggregator()
    agg.add(seconds[30:] + seconds[:30])  # out of order within the minute
    built = aggregate(seconds)[("AAPL", Timeframe.M1, start)]
    assert (built.open, built.close, built.high, built.low, built.volume) == (10, 69.5, 70, 9, 600)
    # A re-sent second is a correction too.
    fixed = aggregate(seconds + [bar(start=start + 59_000, ev="A", o=69, h=100, l=68, c=99, v=10, vw=69)])
    assert fixed[("AAPL", Timeframe.M1, start)].high == 100
    assert fixed[("AAPL", Timeframe.M1, start)].volume == 600
    # The AM bar for the minute is authoritative, and later seconds do not undo it.
    am = bar(start=start, o=1, h=2, l=0.5, c=1.5, v=7)
    final = aggregate(seconds + [am] + [bar(start=start + 5_000, ev="A", h=500)])
    assert final[("AAPL", Timeframe.M1, start)].high == 2


def test_daily_bucket_is_the_new_york_day():
    # 2025-02-03 23:30 New York = 2025-02-04 04:30 UTC: still Feb 3 in New York.
    late_evening = 1738643400000
    out = aggregate([bar(start=late_evening)])
    assert ("AAPL", Timeframe.D1, ny_day_start(late_evening)) in out
    assert ny_day_start(late_evening) == 1738558800000  # 2025-02-03 05:00 UTC


def test_late_bars_follow_the_in_window_rules_and_only_freed_days_go_to_the_store():
    agg = CandleAggregator(allowed_lateness_ms=15 * M)
    agg.add([bar(start=T0 + 30 * M)])
    assert agg.watermark("AAPL") == T0 + 31 * M - 15 * M
    # Behind the watermark, but its day is in memory: merged there exactly, as in the window.
    behind = agg.add([bar(start=T0 + 10 * M, v=7)])
    assert not behind.late and [c.volume for c in behind.candles if c.timeframe is Timeframe.M1] == [7]
    # A re-sent second of a minute built from seconds is an upsert, never an addition.
    agg.add([bar(start=T0 + 12 * M + 5_000, ev="A", v=500)])
    again = agg.add([bar(start=T0 + 12 * M + 5_000, ev="A", v=500)])
    assert again.candles == []
    resent = agg.add([bar(start=T0 + 12 * M + 5_000, ev="A", v=300)])
    assert [c.volume for c in resent.candles if c.timeframe is Timeframe.M1] == [300]
    # A second bar for a minute its AM bar settled changes nothing.
    assert agg.add([bar(start=T0 + 10 * M + 1_000, ev="A", v=50)]).candles == []
    # A day the watermark has left is freed: its bars come back for the store, nothing is dropped.
    agg.add([bar(start=T0 + 86_400_000)])
    freed = agg.add([bar(start=T0 + 20 * M)])
    assert [b.start_ms for b in freed.late] == [T0 + 20 * M] and not freed.candles
    # A second bar further behind than the seconds horizon cannot be merged exactly: rejected with the reason.
    far = agg.add([bar(start=T0 + 86_400_000 - 3 * 3_600_000, ev="A")])
    assert not far.late and not far.candles and "seconds are no longer kept" in far.rejected[0]


def test_incremental_result_equals_batch_result_whatever_the_batching():
    rng = random.Random(3)
    bars = []
    for i in range(600):
        s = rng.choice(["AAPL", "AMZN", "BRK.B"])
        minute = T0 + rng.randrange(400) * M
        p = 100 + rng.random() * 5
        bars.append(bar(symbol=s, start=minute, o=p, h=p + 1, l=p - 1, c=p + 0.5, v=rng.randrange(1, 1000)))
    expected = aggregate(bars)
    agg = CandleAggregator(allowed_lateness_ms=None)
    got = {}
    i = 0
    while i < len(bars):
        n = rng.randrange(1, 50)
        for c in agg.add(bars[i:i + n]).candles:
            got[c.key] = c
        i += n
    assert got.keys() == expected.keys()
    for key, c in expected.items():
        assert got[key][:3] == c[:3]
        assert got[key][3:] == pytest.approx(c[3:], rel=1e-12), key


def test_eviction_frees_old_days_but_keeps_results_correct():
    agg = CandleAggregator(allowed_lateness_ms=15 * M)
    day1 = [bar(start=T0 + i * M) for i in range(10)]
    day2 = [bar(start=T0 + 86_400_000 + i * M) for i in range(10)]
    agg.add(day1)
    agg.add(day2)
    st = agg._symbols["AAPL"]
    assert min(st.minutes) >= ny_day_start(T0 + 86_400_000)  # day 1 freed
    assert agg.add([bar(start=T0)]).late  # and a day-1 bar is now late (for the store to apply)
