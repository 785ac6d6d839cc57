"""What traders expect of the chart: last price and countdown, a draggable price scale, indicators kept
current by live ticks, an RSI pane, pre/post-market shading."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from images import differing_pixels
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.chart.clock import FeedClock
from app.chart.indicators import IndicatorColumns, IndicatorSpec
from app.chart.view import ChartView
from backend.model import MINUTE_MS, Candle, Timeframe
from backend.pipeline import CandleSeries

NY = ZoneInfo("America/New_York")


def ny(y, mo, d, h, mi) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=NY).timestamp() * 1000)


def extended_day(day=(2025, 2, 3), start=(7, 0), end=(18, 0), price=100.0) -> list[tuple]:
    """One New York day of 1m candles from ``start`` to ``end`` (pre-market, session, post-market)."""
    rng = np.random.default_rng(5)
    t0, t1 = ny(*day, *start), ny(*day, *end)
    rows, close = [], price
    for t in range(t0, t1, MINUTE_MS):
        o = close
        close = o + rng.normal(0, 0.05)
        rows.append((t, o, max(o, close) + 0.02, min(o, close) - 0.02, close, 1000.0, (o + close) / 2))
    return rows


@pytest.fixture
def chart(qtbot):
    view = ChartView(NY)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    view.set_series(CandleSeries.from_rows("AAPL", Timeframe.M1, extended_day()), [])
    qtbot.wait(20)
    return view


def tick(view: ChartView, close: float, start=None, high=None) -> Candle:
    d = view.data
    i = d.n - 1
    start = int(d.start[i]) if start is None else start
    o = d.open[i] if start == int(d.start[i]) else float(d.close[i])
    c = Candle("AAPL", Timeframe.M1, start, o, max(o, close, high or close), min(o, close), close, 500.0, close, 3)
    view.apply_candles([c])
    return c


def test_last_price_line_and_tag_follow_ticks(chart):
    d = chart.data
    last = float(d.close[d.n - 1])
    assert chart.last_line.isVisible() and chart.last_line.value() == last
    assert chart.price_tag.isVisible() and chart.price_tag.text.splitlines()[0] == f"{last:,.2f}"
    tick(chart, last + 1.234)
    assert chart.last_line.value() == pytest.approx(last + 1.234)
    assert chart.price_tag.text.splitlines()[0] == f"{last + 1.234:,.2f}"
    assert chart.price_tag.color == chart.last_line.pen.color()  # green: above the candle's open
    # The tag sits at the line's height on the price scale.
    tag_scene = chart.price_tag.mapToScene(QPointF(0, 0)).y()
    line_scene = chart.price.vb.mapViewToScene(QPointF(0, chart.last_line.value())).y()
    assert abs(tag_scene - line_scene) < 1.0


def test_countdown_to_the_candles_close_once_the_feed_clock_is_known(chart, qtbot):
    d = chart.data
    assert len(chart.price_tag.text.splitlines()) == 1  # no clock yet: no made-up countdown
    start = int(d.start[d.n - 1]) + MINUTE_MS
    tick(chart, 100.0, start=start)  # a new minute begins
    # The feed's clock as three new minutes 3 s apart would have set it: a 20× demo, now at ``start``.
    now = time.monotonic()
    chart.clock = FeedClock()
    for k in (2, 1, 0):
        chart.clock.observe(start - k * MINUTE_MS, now - 3.0 * k)
    qtbot.wait(1100)  # the 1 Hz refresh: ~1 s later the 20× feed is ~20 s into the minute
    lines = chart.price_tag.text.splitlines()
    assert len(lines) == 2, lines
    minutes, seconds = map(int, lines[1].split(":"))
    assert minutes == 0 and 35 <= seconds <= 59, lines  # 60 s minus ~0-1.1 s of a 20× feed
    qtbot.wait(3500)  # past the minute's end and no new candle (the market paused): no countdown
    assert len(chart.price_tag.text.splitlines()) == 1


def _axis_point(chart) -> QPoint:
    rect = chart.price_axis.sceneBoundingRect()
    return chart.graphics.mapFromScene(QPointF(rect.center().x(), rect.center().y()))


LEFT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton


def _send(chart, kind, pos: QPoint, button, buttons) -> None:
    viewport = chart.graphics.viewport()
    QApplication.sendEvent(viewport, QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button,
                                                 buttons, Qt.KeyboardModifier.NoModifier))


def _drag(chart, start: QPoint, dy: int) -> None:
    _send(chart, QMouseEvent.Type.MouseButtonPress, start, LEFT, LEFT)
    for k in range(1, 11):
        _send(chart, QMouseEvent.Type.MouseMove, start + QPoint(0, dy * k // 10), NONE, LEFT)
    _send(chart, QMouseEvent.Type.MouseButtonRelease, start + QPoint(0, dy), LEFT, NONE)


def _double_click(chart, pos: QPoint) -> None:
    """As a window system delivers it: press, release, double-click (the second press), release.
    (QTest.mouseDClick leaves out the last release, and pyqtgraph sends the click on release.)"""
    for kind, buttons in ((QMouseEvent.Type.MouseButtonPress, LEFT), (QMouseEvent.Type.MouseButtonRelease, NONE),
                          (QMouseEvent.Type.MouseButtonDblClick, LEFT), (QMouseEvent.Type.MouseButtonRelease, NONE)):
        _send(chart, kind, pos, LEFT, buttons)


def test_drag_the_price_scale_then_double_click_to_fit(chart, qtbot):
    (_, _), (y0, y1) = chart.price.vb.viewRange()
    _drag(chart, _axis_point(chart), 80)  # down: squeeze the prices
    (_, _), (a0, a1) = chart.price.vb.viewRange()
    assert a1 - a0 > (y1 - y0) * 1.5
    tick(chart, float(chart.data.close[chart.data.n - 1]) + 0.01)
    assert chart.price.vb.viewRange()[1] == [a0, a1], "a tick refitted a scale the user set"
    qtbot.wait(600)  # not a double click
    _drag(chart, _axis_point(chart), -120)  # up: stretch
    (_, _), (b0, b1) = chart.price.vb.viewRange()
    assert b1 - b0 < a1 - a0
    _double_click(chart, _axis_point(chart))
    (_, _), (c0, c1) = chart.price.vb.viewRange()
    (x0, x1), _ = chart.price.vb.viewRange()
    i0, i1 = max(0, int(x0)), min(chart.data.n, int(x1) + 1)
    assert c0 <= chart.data.low[i0:i1].min() and c1 >= chart.data.high[i0:i1].max()
    assert c1 - c0 < (chart.data.high[i0:i1].max() - chart.data.low[i0:i1].min()) * 1.5


def test_indicators_follow_live_ticks_and_rsi_gets_its_own_pane(chart, qtbot):
    specs = [IndicatorSpec.parse("ema:20"), IndicatorSpec.parse("bb:20:2"), IndicatorSpec.parse("rsi:14")]
    chart.set_indicators(specs)
    assert chart.rsi in chart.graphics.ci.items
    assert [s.key for s in chart.indicator_specs] == ["ema:20", "bb:20:2", "rsi:14"]
    last = float(chart.data.close[chart.data.n - 1])
    tick(chart, last + 0.8)  # live
    tick(chart, last + 0.5, start=int(chart.data.start[chart.data.n - 1]) + MINUTE_MS)  # append
    d = chart.data
    for columns, _, item in chart._indicators.values():
        full = IndicatorColumns(columns.spec)
        full.update(d.close[:d.n].copy(), d.n, 0)
        for name in columns.spec.outputs:
            np.testing.assert_allclose(columns.values(name), full.values(name), equal_nan=True)
        if item is not None:  # the RSI's own item in its pane
            assert columns.spec.kind == "rsi" and item.boundingRect().height() > 0
        else:  # overlays are drawn by the candle item, whose bounds hold them
            bounds = chart.candles.boundingRect()
            low, high = columns.extent(0, d.n)
            assert bounds.top() <= low and bounds.bottom() >= high
    assert [c.spec.key for c, _ in chart.candles.overlays] == ["ema:20", "bb:20:2"]
    assert "EMA 20" in chart.readout.text and "RSI 14" in chart.readout.text
    chart.set_indicators(specs[:1])
    assert chart.rsi not in chart.graphics.ci.items
    assert len(chart._indicators) == 1


def test_pre_and_post_market_candles_are_shaded(chart, qtbot):
    d = chart.data
    open_i = int(np.searchsorted(d.start[:d.n], ny(2025, 2, 3, 9, 30)))
    close_i = int(np.searchsorted(d.start[:d.n], ny(2025, 2, 3, 16, 0)))
    assert chart.shade.runs == [(0, open_i - 1), (close_i, d.n - 1)]
    tick(chart, 100.0, start=int(d.start[d.n - 1]) + MINUTE_MS)  # another post-market minute extends the run
    assert chart.shade.runs == [(0, open_i - 1), (close_i, chart.data.n - 1)]
    chart.set_series(CandleSeries.from_rows("AAPL", Timeframe.D1, [(ny(2025, 2, 3, 0, 0), 1, 2, 0.5, 1.5, 10, 1)]),
                     [])
    assert chart.shade.runs == []


def test_articles_that_arrive_while_a_history_load_is_in_flight_are_kept(chart):
    from backend.model import Article

    series = CandleSeries.from_rows("MSFT", Timeframe.M1, extended_day(price=400.0))
    chart.begin_load("MSFT", Timeframe.M1)
    late = Article("late", int(series.start[100]), "MSFT news stored after the load read the store",
                   "https://www.theguardian.com/late", "business", symbols=frozenset({"MSFT"}))
    chart.add_articles([late])  # streamed in meanwhile
    chart.set_series(series, [])  # the load's result predates it
    assert chart.marker_position("late") is not None


def test_live_ticks_and_appends_draw_what_a_fresh_load_of_the_same_candles_draws(qtbot):
    """The tick path (live picture, tail, dirty rects, incremental indicators) leaves no stale pixels."""
    rows = extended_day(start=(9, 30), end=(12, 0))
    specs = [IndicatorSpec.parse(k) for k in ("ema:20", "bb:20:2", "rsi:14")]

    def make():
        v = ChartView(NY)
        qtbot.addWidget(v)
        v.resize(1000, 600)
        v.show()
        qtbot.waitExposed(v)
        v.set_indicators(specs)
        return v

    def image(v):
        """What the window's backing store holds — the pixels as painted, not a fresh render."""
        qtbot.wait(30)
        return v.screen().grabWindow(v.winId()).toImage()

    mid = rows[-1][4]
    y_range = (mid - 2.0, mid + 2.0)  # ~100 px a dollar: a band that moves a few cents moves pixels

    def hold_prices(v):  # a scale the user set: ticks never refit it, so only their dirty rects repaint
        v.price_axis.scale_dragged.emit(1.0)
        v.price.setYRange(*y_range, padding=0)

    live = make()
    live.set_series(CandleSeries.from_rows("AAPL", Timeframe.M1, rows[:-40]), [])
    hold_prices(live)
    rng = np.random.default_rng(9)
    for t, o, h, l, c, v_, w in rows[-40:]:  # each new minute arrives as a few ticks, then its final values
        for k in range(3):
            close = o + (c - o) * (k + 1) / 3 + rng.normal(0, 0.6)  # wide swings: the lines move many pixels
            live.apply_candles([Candle("AAPL", Timeframe.M1, t, o, max(h, close), min(l, close), close, v_ * (k + 1) / 3,
                                       w, 3)])
            qtbot.wait(5)
        live.apply_candles([Candle("AAPL", Timeframe.M1, t, o, h, l, c, v_, w, 3)])
        qtbot.wait(5)
    # A last minute whose ticks swing the close (and every line) back and forth inside a fixed high-low:
    # only the tick's dirty rects repaint, and whatever an earlier tick drew must be gone.
    t, mid = rows[-1][0] + MINUTE_MS, rows[-1][4]
    for close in (mid + 0.15, mid - 0.15, mid + 0.1, mid - 0.05, mid):
        live.apply_candles([Candle("AAPL", Timeframe.M1, t, mid, mid + 0.2, mid - 0.2, close, 800.0, mid, 3)])
        qtbot.wait(20)
    rows = rows + [(t, mid, mid + 0.2, mid - 0.2, mid, 800.0, mid)]
    fresh = make()
    fresh.set_series(CandleSeries.from_rows("AAPL", Timeframe.M1, rows), [])
    hold_prices(fresh)
    # Compare the price and volume panes right away (a later full repaint would hide stale pixels), below
    # the legend and left of the price scale (the live chart's clock may show a countdown there).
    a, b = image(live), image(fresh)
    assert a.size() == b.size()
    top = int(live.graphics.mapFromScene(live.price.vb.sceneBoundingRect().topLeft()).y()) + 40
    right = int(live.graphics.mapFromScene(live.price.vb.sceneBoundingRect().topRight()).x())
    bottom = int(live.graphics.mapFromScene(live.volume.vb.sceneBoundingRect().bottomRight()).y())
    differing = differing_pixels(a.copy(0, top, right, bottom - top), b.copy(0, top, right, bottom - top))
    assert differing == 0, f"{differing} pixels differ between the live-updated and the freshly loaded chart"
