"""Chart items: a tick rebuilds only the live picture; levels of detail; exact bounds; data upserts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest
from images import differing_pixels

from app.chart.data import ChartData
from app.chart.items import CHUNK, CandleItem
from app.chart.view import ChartView
from backend.model import Candle, Timeframe
from backend.pipeline import CandleSeries

T0 = 1738593060000


def _series(n: int, symbol="AAPL") -> CandleSeries:
    rng = np.random.default_rng(0)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    open_ = np.r_[close[0], close[:-1]]
    rows = [(T0 + i * 60_000, open_[i], max(open_[i], close[i]) + 0.05, min(open_[i], close[i]) - 0.05, close[i],
             1000.0 + i, (open_[i] + close[i]) / 2) for i in range(n)]
    return CandleSeries.from_rows(symbol, Timeframe.M1, rows)


@pytest.fixture
def chart(qtbot):
    view = ChartView(ZoneInfo("America/New_York"))
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.set_series(_series(20_000), [])
    qtbot.wait(20)
    return view


def test_live_tick_rebuilds_no_chunk(chart, qtbot):
    n = chart.data.n
    pictures = dict(chart.candles._chunks)
    assert pictures, "visible chunks are recorded"
    last = chart.data
    tick = Candle("AAPL", Timeframe.M1, int(last.start[n - 1]), last.open[n - 1], last.high[n - 1] + 1,
                  last.low[n - 1], last.close[n - 1] + 0.5, last.volume[n - 1] + 10, 100.0, 5)
    chart.apply_candles([tick])
    assert chart.data.n == n and chart.data.high[n - 1] == tick.high
    assert all(chart.candles._chunks[k] is pic for k, pic in pictures.items())


def test_append_invalidates_only_the_tail_chunk(chart):
    n = chart.data.n
    before = dict(chart.candles._chunks)
    new = Candle("AAPL", Timeframe.M1, int(chart.data.start[n - 1]) + 60_000, 100, 101, 99, 100.5, 10, 100, 1)
    chart.apply_candles([new])
    assert chart.data.n == n + 1
    tail = (n - 1) // CHUNK
    kept = [k for k in before if k[0] == 0 and k[1] < tail]
    assert kept and all(chart.candles._chunks.get(k) is before[k] for k in kept)


def test_zooming_out_switches_to_a_coarser_level(chart, qtbot):
    assert chart.candles.level == 0
    chart.price.setXRange(0, chart.data.n, padding=0)
    qtbot.wait(20)
    assert chart.candles.level >= 3
    coarse = [k for k in chart.candles._chunks if k[0] == chart.candles.level]
    assert 1 <= len(coarse) <= 3  # a handful of coarse pictures cover all 20,000 candles


def test_bounding_rect_is_exact(chart):
    rect = chart.candles.boundingRect()
    d = chart.data
    assert rect.top() == pytest.approx(d.low[:d.n].min())
    assert rect.bottom() == pytest.approx(d.high[:d.n].max())
    assert rect.width() == d.n


def test_chart_data_upsert_kinds_and_session_vwap():
    data = ChartData(capacity=2)
    day = 1738558800000
    c = lambda start, close=1.0, v=10.0: Candle("A", Timeframe.M1, start, 1, 2, 0.5, close, v, close, 1)  # noqa: E731
    assert data.upsert(c(T0), day) == ("append", 0)
    assert data.upsert(c(T0 + 120_000), day) == ("append", 1)
    assert data.upsert(c(T0 + 120_000, 3.0), day) == ("live", 1)
    assert data.upsert(c(T0 + 60_000, 2.0), day) == ("insert", 1)
    assert data.upsert(c(T0, 5.0), day) == ("correct", 0)
    assert list(data.start[:data.n]) == [T0, T0 + 60_000, T0 + 120_000]
    assert data.session_vwap[2] == pytest.approx((5 + 2 + 3) / 3)
    assert data.index_at(T0 + 90_000) == 1 and data.index_at(T0 - 1) is None


def test_set_visible_records_pictures_for_the_chosen_level_only(qtbot):
    """Pictures are recorded when the range changes (never in paint), at one level of detail."""
    item = CandleItem(ChartData.from_series(_series(3000), np.full(3000, 1738558800000)))
    item.set_visible(0, 3000, 1000)
    assert item._chunks and all(k[0] == item.level for k in item._chunks)


def test_day_starts_match_the_new_york_calendar_across_dst_and_overnight():
    from app.chart.view import _day_starts
    from backend.timeutil import ny_day_start

    rng = np.random.default_rng(1)
    starts = np.sort(rng.integers(1_700_000_000_000, 1_800_000_000_000, 50_000))  # 2023-11 .. 2027-01, any hour
    assert (_day_starts(starts) == np.array([ny_day_start(int(t)) for t in starts])).all()


def test_after_live_ticks_the_price_pane_shows_what_a_fresh_chart_of_the_same_data_shows(qtbot):
    """The finished candles are drawn from Qt's pixmap cache and the live one by a child item: ticks must not
    leave stale pixels (the old live candle, its indicator segments, the old last-price line)."""
    from app.chart.indicators import IndicatorSpec

    first = _series(2_000)
    rows = [tuple(float(x) if j else int(x) for j, x in enumerate(r)) for r in zip(
        first.start, first.open, first.high, first.low, first.close, first.volume, first.vwap)]
    *head, (start, o, h, l, c, v, w) = rows
    visible_low = min(r[3] for r in head[-100:])
    visible_high = max(r[2] for r in head[-100:])
    assert visible_low < l - 0.1 and h + 0.1 < visible_high  # the ticks below stay inside the fitted range
    final = (start, o, h + 0.05, l - 0.05, c + 0.03, v + 9, w)
    views = []
    for series in (first, CandleSeries.from_rows("AAPL", Timeframe.M1, [*head, final])):
        view = ChartView(ZoneInfo("America/New_York"))
        qtbot.addWidget(view)
        view.resize(1000, 600)
        view.show()
        view.set_indicators([IndicatorSpec.parse("ema:20"), IndicatorSpec.parse("bb:20:2")])
        view.set_series(series, [])
        view.readout.setVisible(False)  # its live values follow at a 1 Hz refresh
        views.append(view)
    ticked, fresh = views
    qtbot.wait(50)
    for k in range(30):  # up and down inside the range, ending on the final values
        close = final[4] if k == 29 else c + (0.04 if k % 2 else -0.04) * (k % 5) / 4
        high, low = (final[2], final[3]) if k == 29 else (max(o, close) + 0.001 * k, min(o, close) - 0.001 * k)
        ticked.apply_candles([Candle("AAPL", Timeframe.M1, start, o, high, low, close, final[5] if k == 29 else v + k,
                                     w, 1)])
        qtbot.wait(5)
    qtbot.wait(50)
    assert ticked.price.viewRange() == fresh.price.viewRange()
    pane = ticked.graphics.mapFromScene(ticked.price.vb.sceneBoundingRect()).boundingRect()
    ticked_image, fresh_image = (view.graphics.viewport().grab(pane).toImage() for view in views)
    assert differing_pixels(ticked_image, fresh_image) == 0
