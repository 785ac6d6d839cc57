"""The chart widget: price pane (candles, session VWAP, indicators, news markers, last price, crosshair),
an optional RSI pane and the volume pane.

It owns its plot items for its whole life and feeds them new data; a symbol or timeframe switch swaps
the :class:`ChartData`, a tick updates one candle. It follows the live edge until the user pans, then
offers to resume; x never goes further than the data. The price scale fits the visible candles until
the user drags it, and fits again on a double-click.
"""

from __future__ import annotations

import time
from datetime import datetime, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.chart.axis import PriceAxis, TimeAxis, VolumeAxis
from app.chart.clock import FeedClock, candle_close_ms, countdown_text
from app.chart.data import ChartData
from app.chart.indicator_items import IndicatorItem
from app.chart.indicators import IndicatorColumns, IndicatorSpec
from app.chart.items import DOWN, UP, VWAP, CandleItem, VolumeItem
from app.chart.lines import PALETTE, indicator_color
from app.chart.markers import MARKER_HIGHLIGHT, NewsMarkers
from app.chart.overlays import PriceTag, SessionShade, outside_session, price_y, runs
from backend.model import Article, Candle, Timeframe
from backend.pipeline import CandleSeries
from backend.timeutil import ny_day_start

LIVE_WINDOW = 120  # candles shown when following the live edge
MIN_WINDOW = 10  # the closest zoom, in candles
RSI_LEVELS = (30.0, 70.0)


class ChartView(QWidget):
    """Candles + indicators + volume + news markers for one symbol and timeframe."""

    article_clicked = Signal(object)  # Article
    follow_changed = Signal(bool)

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.symbol = ""
        self.timeframe = Timeframe.M1
        self.data = ChartData()
        self.following = True
        self.clock = FeedClock()
        self._adjusting = False
        self._manual_y = False  # the user scaled the prices: stop fitting them
        self._hover: int | None = None  # candle under the mouse
        self._loading: list[Candle] | None = None  # candles streamed while a history load is in flight
        self._loading_articles = False  # articles added meanwhile are kept through set_series
        # key → (columns, colour, the RSI pane's item or None for an overlay drawn by the candle item)
        self._indicators: dict[str, tuple[IndicatorColumns, QColor, IndicatorItem | None]] = {}
        self._newest_minute = 0
        self.last_price = 0.0
        self._closes_at: tuple = ((0, None), 0)  # ((candle start, timeframe), when that candle closes)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.graphics = ChartGraphics()
        self.graphics.setBackground("#121417")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.axis = TimeAxis(self.data, tz)
        self.price_axis = PriceAxis("right")
        self.price = self.graphics.addPlot(row=0, col=0, axisItems={"right": self.price_axis})
        self.rsi = pg.PlotItem(axisItems={"right": pg.AxisItem("right")})  # placed in row 1 while an RSI is on
        self.volume = self.graphics.addPlot(row=2, col=0, axisItems={"bottom": self.axis, "right": VolumeAxis()})
        rows = self.graphics.ci.layout
        rows.setRowStretchFactor(0, 4)
        rows.setRowStretchFactor(2, 1)
        for plot in (self.price, self.rsi, self.volume):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.showGrid(x=False, y=False)
            plot.hideAxis("left")
            plot.showAxis("right")
            plot.getAxis("right").setWidth(70)
            plot.vb.setMouseEnabled(x=True, y=False)
            plot.vb.disableAutoRange()
        self.price.hideAxis("bottom")
        self.rsi.hideAxis("bottom")
        self.volume.setXLink(self.price)
        self.rsi.setXLink(self.price)
        self.rsi.setYRange(0, 100, padding=0)
        self.rsi.getAxis("right").setTicks([[(v, f"{v:g}") for v in (30.0, 50.0, 70.0)]])
        for level in RSI_LEVELS:
            self.rsi.addItem(pg.InfiniteLine(level, angle=0, pen=pg.mkPen("#555", style=Qt.PenStyle.DashLine)))

        self.shade = SessionShade()
        self.price.addItem(self.shade, ignoreBounds=True)
        self.candles = CandleItem(self.data)
        self.volumes = VolumeItem(self.data)
        self.price.addItem(self.candles)
        self.volume.addItem(self.volumes)

        self.news = NewsMarkers(self.price, lambda: self.tz, self.article_clicked.emit)
        self.markers = self.news.item

        self.last_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(UP, style=Qt.PenStyle.DotLine))
        self.last_line.setZValue(5)
        self.last_line.setVisible(False)
        self.price.addItem(self.last_line, ignoreBounds=True)
        self.price_tag = PriceTag(self.price_axis)
        self.price_tag.setVisible(False)
        self.jump_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(MARKER_HIGHLIGHT, width=1,
                                                                                  style=Qt.PenStyle.DashLine))
        self.jump_line.setVisible(False)
        self.price.addItem(self.jump_line, ignoreBounds=True)

        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        for line in (self.vline, self.hline):
            line.setZValue(20)
            line.setVisible(False)
            self.price.addItem(line, ignoreBounds=True)
        # The OHLCV legend sits in the price pane's top-left corner, like a trading terminal's.
        self.readout = pg.LabelItem(justify="left", size="9pt")
        self.readout.setParentItem(self.price.vb)
        self.readout.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(6, 2))
        self.readout.setZValue(30)
        self.placeholder = pg.LabelItem("Waiting for data…", color="#8a8f98", size="13pt")
        self.placeholder.setParentItem(self.price.vb)
        self.placeholder.anchor(itemPos=(0.5, 0.5), parentPos=(0.5, 0.5))
        self.price.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.price.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self.price.vb.sigRangeChangedManually.connect(self._on_user_panned)
        self.price.vb.sigResized.connect(self._on_x_range_changed)
        self.price.vb.sigYRangeChanged.connect(self._on_y_range_changed)
        self.price_axis.scale_dragged.connect(self._on_price_scale_dragged)
        self.price_axis.reset_requested.connect(self.fit_prices)
        self._timer = QTimer(self)  # the countdown, and the legend when the mouse is elsewhere
        self._timer.timeout.connect(self._on_second)
        self._timer.start(1000)

    # -- data -------------------------------------------------------------------------------------

    def begin_load(self, symbol: str, timeframe: Timeframe) -> None:
        """A history load for ``symbol`` started: keep its streamed candles until :meth:`set_series`."""
        if symbol != self.symbol:
            self.news.articles = {}
        self.symbol, self.timeframe = symbol, Timeframe(timeframe)
        self._loading = []
        self._loading_articles = True
        self.readout.setText(self._legend_title() + "<span style='color:#888'>  loading…</span>")
        self.placeholder.setText(f"Loading {symbol} {self.timeframe}…")

    def set_impacts(self, impacts: dict) -> None:
        """Impacts of this symbol's articles (article id → NewsImpact): marker colour and size."""
        self.news.impacts = dict(impacts)
        self.news.refresh()

    def apply_impacts(self, impacts: list) -> None:
        mine = [i for i in impacts if i.symbol == self.symbol]
        if mine:
            self.news.impacts.update((i.article_id, i) for i in mine)
            self.news.refresh()

    def set_series(self, series: CandleSeries, articles: list[Article]) -> None:
        """Show a freshly loaded symbol/timeframe, then the candles that streamed in meanwhile."""
        self.symbol, self.timeframe = series.symbol, series.timeframe
        streamed, self._loading = self._loading or [], None
        days = _day_starts(series.start)
        self.data = ChartData.from_series(series, days)
        self.axis.set_data(self.data, self.timeframe)
        for columns, _, item in self._indicators.values():
            columns.update(self.data.close, self.data.n, 0)
            if item is not None:
                item.reset(self.data)
        self.candles.reset(self.data)
        self.volumes.reset(self.data)
        self.shade.set_runs(*runs(outside_session(self.data, self.timeframe)))
        # The loaded articles, and those that streamed in while the load was in flight (they may have been
        # stored after the load read the store).
        streamed_articles = list(self.news.articles.values()) if self._loading_articles else []
        self.news.articles = {a.id: a for a in articles}
        self.news.articles.update((a.id, a) for a in streamed_articles)
        self._loading_articles = False
        self.news.highlighted = None
        self.jump_line.setVisible(False)
        self.apply_candles(streamed)
        self._update_limits()
        self.news.refresh(self.data)
        self._update_last_price()
        self.placeholder.setText(f"Waiting for {self.symbol} {self.timeframe} candles…")
        self.placeholder.setVisible(self.data.n == 0)
        self.resume_live()
        self._show_legend()

    def apply_candles(self, candles: list[Candle]) -> None:
        """Apply streamed candles of any symbol/timeframe; only ours are drawn (every 1m one sets the clock)."""
        now = time.monotonic()
        for c in candles:
            if c.timeframe == Timeframe.M1 and c.start_ms > self._newest_minute:
                self._newest_minute = c.start_ms
                self.clock.observe(c.start_ms, now)
        if self._loading is not None:
            self._loading.extend(c for c in candles if c.symbol == self.symbol and c.timeframe == self.timeframe)
            return
        appended = changed = False
        for c in candles:
            if c.symbol != self.symbol or c.timeframe != self.timeframe:
                continue
            kind, index = self.data.upsert(c, ny_day_start(c.start_ms))
            d = self.data
            for columns, _, item in self._indicators.values():  # before the pictures that draw them
                columns.update(d.close, d.n, index)
                if item is not None:
                    item.changed(kind, index)
            self.candles.changed(kind, index)
            self.volumes.changed(kind, index)
            self.axis.data_changed(kind, index)
            if kind != "live":
                self._shade_from(index, kind)
            appended |= kind != "live"
            changed = True
        if not changed:
            return
        if self.placeholder.isVisible():
            self.placeholder.setVisible(False)
        if appended:
            self._update_limits()
            self.news.refresh(self.data)
            if self.following:
                self._show_live_edge()
            if self._hover is None:
                self._show_legend()  # the new last candle (its live values follow at the 1 Hz refresh)
        elif self.following and self.data.n:
            self._fit_y(grow_only=True)
        self._update_last_price()

    def add_articles(self, articles: list[Article]) -> None:
        mine = [a for a in articles if self.symbol in a.symbols]
        if mine:
            for a in mine:
                self.news.articles[a.id] = a
            self.news.refresh()

    # -- indicators -------------------------------------------------------------------------------

    def set_indicators(self, specs: list[IndicatorSpec]) -> None:
        """Show exactly these indicators: overlays are drawn by the candle item, an RSI by an item in its
        own pane (made when it is switched on, kept while it stays on)."""
        wanted = {s.key: s for s in specs}
        for key in [k for k in self._indicators if k not in wanted]:
            _, _, item = self._indicators.pop(key)
            if item is not None:
                self.rsi.removeItem(item)
        used = {color.name() for _, color, _ in self._indicators.values()}
        for key, spec in wanted.items():
            if key in self._indicators:
                continue
            name = next((c for c in PALETTE if QColor(c).name() not in used), PALETTE[len(used) % len(PALETTE)])
            columns = IndicatorColumns(spec, capacity=len(self.data.start))
            columns.update(self.data.close, self.data.n, 0)
            color = indicator_color(columns, name)
            used.add(color.name())
            item = None
            if spec.pane == "rsi":
                item = IndicatorItem(self.data, columns, name)
                self.rsi.addItem(item)
            self._indicators[key] = (columns, color, item)
        self.candles.set_overlays([(columns, color) for columns, color, item in self._indicators.values()
                                   if item is None])
        self._show_rsi_pane(any(s.pane == "rsi" for s in wanted.values()))
        self._on_x_range_changed()
        self._show_legend()

    @property
    def loading(self) -> bool:
        """True while a history load is in flight (between begin_load and set_series)."""
        return self._loading is not None

    @property
    def indicator_specs(self) -> list[IndicatorSpec]:
        return [columns.spec for columns, _, _ in self._indicators.values()]

    def _show_rsi_pane(self, show: bool) -> None:
        layout = self.graphics.ci
        placed = self.rsi in layout.items
        if show and not placed:
            layout.addItem(self.rsi, row=1, col=0)
            layout.layout.setRowStretchFactor(1, 1)
        elif not show and placed:
            layout.removeItem(self.rsi)
            layout.layout.setRowStretchFactor(1, 0)
            self.rsi.setParentItem(None)
            if self.rsi.scene() is not None:
                self.rsi.scene().removeItem(self.rsi)

    # -- navigation -------------------------------------------------------------------------------

    def resume_live(self) -> None:
        """Follow the live edge again."""
        self._set_following(True)
        self.jump_line.setVisible(False)
        self._show_live_edge()

    def fit_prices(self) -> None:
        """Fit the price scale to the visible candles again (after a drag on the scale)."""
        self._manual_y = False
        self._fit_y()

    def show_article(self, article_id: str) -> bool:
        """Scroll the chart to an article's marker and highlight it; False if it is not on this chart."""
        article = self.news.articles.get(article_id)
        if article is None or self.data.index_at(article.published_ms) is None:
            return False
        self.news.highlighted = article_id
        self._center_on(self.data.index_at(article.published_ms))
        self.news.refresh()
        return True

    def show_time(self, t_ms: int) -> bool:
        """Scroll the chart to the candle holding ``t_ms`` and mark it; False if before the data."""
        x = self.data.index_at(t_ms)
        if x is None:
            return False
        self._center_on(x)
        self.jump_line.setPos(x)
        self.jump_line.setVisible(True)
        return True

    def pan(self, candles: float) -> None:
        """Move the view by ``candles`` (keyboard arrows); stops at the data."""
        (x0, x1), _ = self.price.vb.viewRange()
        self._set_following(False)
        self.price.setXRange(x0 + candles, x1 + candles, padding=0)

    def marker_position(self, article_id: str) -> tuple[float, float] | None:
        """Where an article's marker is, in data coordinates (for tests and tooling)."""
        return self.news.position(article_id)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        (x0, x1), _ = self.price.vb.viewRange()
        step = max(1.0, (x1 - x0) / 10)
        if key == Qt.Key.Key_Left:
            self.pan(-step)
        elif key == Qt.Key.Key_Right:
            self.pan(step)
        elif key == Qt.Key.Key_End:
            self.resume_live()
        else:
            super().keyPressEvent(event)  # Up/Down and the rest go to the window
            return
        event.accept()

    # -- internals --------------------------------------------------------------------------------

    def _center_on(self, x: float) -> None:
        self._set_following(False)
        (x0, x1), _ = self.price.vb.viewRange()
        lo, hi = self._x_limits()
        span = min(max(40.0, x1 - x0), hi - lo)
        left = min(max(lo, x - span / 2), hi - span)
        self._adjusting = True
        self.price.setXRange(left, left + span, padding=0)
        self._adjusting = False
        self._on_x_range_changed()

    def _x_limits(self) -> tuple[float, float]:
        """How far the view may go: half a candle before the first, a small margin after the last."""
        n = self.data.n
        margin = min(10.0, max(1.0, n * 0.05))
        return -1.0, max(n - 0.5 + margin, 1.0)

    def _update_limits(self) -> None:
        lo, hi = self._x_limits()
        self.price.vb.setLimits(xMin=lo, xMax=hi, maxXRange=hi - lo, minXRange=min(MIN_WINDOW, hi - lo))

    def _show_live_edge(self) -> None:
        n = self.data.n
        self._adjusting = True
        self.price.setXRange(max(-0.5, n - LIVE_WINDOW), n + 2, padding=0)
        self._adjusting = False
        self._on_x_range_changed()

    def _set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.follow_changed.emit(following)

    def _on_user_panned(self, *_):
        if not self._adjusting:
            self._set_following(False)

    def _on_x_range_changed(self, *_):
        (x0, x1), _ = self.price.vb.viewRange()
        width = max(1.0, self.price.vb.width())
        self.candles.set_visible(x0, x1, width)
        self.volumes.set_visible(x0, x1, width)
        self.shade.set_visible_range(x0, x1, width)
        for _, _, item in self._indicators.values():
            if item is not None:
                item.set_visible(x0, x1, width)
        self._fit_y()

    def _fit_y(self, grow_only: bool = False) -> None:
        """Fit the panes' y ranges to the visible candles (and overlays); ``grow_only`` (live ticks) leaves
        a range that still holds everything alone, so a tick does not re-lay the axes. A price scale the
        user dragged is left as it is."""
        n = self.data.n
        if n == 0:
            return
        (x0, x1), (y0, y1) = self.price.vb.viewRange()
        i0, i1 = max(0, int(x0)), min(n, int(x1) + 1)
        if i1 <= i0:
            i0, i1 = max(0, n - 1), n
        lo, hi = self.data.price_extent(i0, i1)
        for columns, _, _ in self._indicators.values():
            if columns.spec.pane == "price":
                extent = columns.extent(i0, i1)
                if extent is not None:
                    lo, hi = min(lo, extent[0]), max(hi, extent[1])
        vmax = self.data.max_volume(i0, i1) or 1.0
        if grow_only and (self._manual_y or (y0 <= lo and hi <= y1)) and vmax <= self.volume.vb.viewRange()[1][1]:
            return
        if not self._manual_y:
            pad = (hi - lo) * 0.08 or hi * 0.01
            self.price.setYRange(lo - pad, hi + pad * 1.6, padding=0)
        self.volume.setYRange(0, vmax * 1.1, padding=0)

    def _on_y_range_changed(self, *_) -> None:
        if self.last_line.isVisible() and self.last_line.value() != self.last_price:
            self.last_line.setValue(self.last_price)  # exact again at the new scale
        self._place_price_tag()
        if self.news.articles:
            self.news.refresh()  # markers keep their pixel distance above the candles

    def _on_price_scale_dragged(self, factor: float) -> None:
        self._manual_y = True
        (_, _), (y0, y1) = self.price.vb.viewRange()
        middle, half = (y0 + y1) / 2, (y1 - y0) / 2 * factor
        self.price.setYRange(middle - half, middle + half, padding=0)

    def _shade_from(self, index: int, kind: str) -> None:
        if kind == "append" and index == self.data.n - 1:
            if outside_session(self.data, self.timeframe, index)[0]:
                runs_now = self.shade.runs
                if runs_now and runs_now[-1][1] == index - 1:
                    runs_now[-1] = (runs_now[-1][0], index)
                else:
                    runs_now.append((index, index))
                first, last = zip(*runs_now)
                self.shade.set_runs(np.array(first, dtype=np.int64), np.array(last, dtype=np.int64))
            return
        self.shade.set_runs(*runs(outside_session(self.data, self.timeframe)))

    # -- last price, legend -----------------------------------------------------------------------

    def _update_last_price(self) -> None:
        """The dotted line at the last price and its tag on the scale (with the countdown).

        The line spans the whole pane, so it moves only when the price crosses a pixel row: a tick
        that leaves it where it is repaints nothing but its candle.
        """
        d = self.data
        if d.n == 0:
            self.last_line.setVisible(False)
            self.price_tag.setVisible(False)
            return
        i = d.n - 1
        close = float(d.close[i])
        self.last_price = close
        color = UP if close >= d.open[i] else DOWN
        if self.last_line.pen.color() != color:
            self.last_line.setPen(pg.mkPen(color, style=Qt.PenStyle.DotLine))
        if not self.last_line.isVisible() or abs(self._price_px(close) - self._price_px(self.last_line.value())) >= 0.5:
            self.last_line.setValue(close)
        self.last_line.setVisible(True)
        self.price_tag.set_text(self._tag_lines(close), color)
        self.price_tag.setVisible(True)
        self._place_price_tag()

    def _price_px(self, price: float) -> float:
        (_, _), (y0, y1) = self.price.vb.viewRange()
        return (price - y0) / max(y1 - y0, 1e-12) * self.price.vb.height()

    def _tag_lines(self, close: float) -> tuple[str, ...]:
        d = self.data
        now = self.clock.now_ms(time.monotonic())
        if now is None or d.n == 0:
            return (f"{close:,.2f}",)
        start = int(d.start[d.n - 1])
        if self._closes_at[0] != (start, self.timeframe):
            self._closes_at = ((start, self.timeframe), candle_close_ms(start, self.timeframe))
        closes_at = self._closes_at[1]
        if not start <= now < closes_at:
            return (f"{close:,.2f}",)
        return f"{close:,.2f}", countdown_text(closes_at - now)

    def _place_price_tag(self, *_) -> None:
        if not self.price_tag.isVisible():
            return
        y = price_y(self.price_axis, self.price.vb, self.last_price)
        half = self.price_tag.boundingRect().height() / 2
        top, bottom = half, self.price_axis.height() - half
        self.price_tag.setPos(1.0, min(max(y, top), max(top, bottom)))

    def _on_second(self) -> None:
        if self.data.n:
            self.price_tag.set_text(self._tag_lines(self.last_price), self.price_tag.color)
            if self._hover is None:
                self._show_legend()

    def _legend_title(self) -> str:
        return f"<span style='color:#ddd; font-weight:bold'>{self.symbol} · {self.timeframe}</span>"

    def _show_legend(self, i: int | None = None) -> None:
        """The legend: the hovered candle's figures, or the last candle's when the mouse is elsewhere."""
        d = self.data
        if i is None:
            i = d.n - 1
        if not 0 <= i < d.n:
            self.readout.setText(self._legend_title())
            return
        t = datetime.fromtimestamp(d.start[i] / 1000, tz=self.tz).strftime("%Y-%m-%d %H:%M")
        parts = [f"{self.symbol} {self.timeframe} {t}", f"O {d.open[i]:.2f}", f"H {d.high[i]:.2f}",
                 f"L {d.low[i]:.2f}", f"C {d.close[i]:.2f}", f"V {d.volume[i]:,.0f}"]
        text = f"<span style='color:#ddd'>{'  '.join(parts)}</span>"
        text += f"  <span style='color:{VWAP.name()}'>VWAP {d.session_vwap[i]:.2f}</span>"
        studies = []
        for columns, color, _ in self._indicators.values():
            values = [columns.outputs[name][i] for name in columns.spec.outputs]
            shown = " / ".join(f"{v:.2f}" for v in values if np.isfinite(v)) or "—"
            studies.append(f"<span style='color:{color.name()}'>{columns.spec.label} {shown}</span>")
        if studies:  # a second line: the first one stays clear of the price scale
            text += "<br>" + "  ".join(studies)
        self.readout.setText(text)

    # -- mouse --------------------------------------------------------------------------------------

    def _on_mouse_moved(self, pos):
        vb = self.price.vb
        inside = self.price.sceneBoundingRect().contains(pos) and self.data.n > 0
        for line in (self.vline, self.hline):
            line.setVisible(inside)
        if not inside:
            if self._hover is not None:
                self._hover = None
                self._show_legend()
            return
        point = vb.mapSceneToView(pos)
        i = int(round(point.x()))
        self.vline.setPos(point.x())
        self.hline.setPos(point.y())
        if 0 <= i < self.data.n and i != self._hover:
            self._hover = i
            self._show_legend(i)

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """The mouse left the chart: no crosshair, and the legend shows the last candle again."""
        for line in (self.vline, self.hline):
            line.setVisible(False)
        if self._hover is not None:
            self._hover = None
            self._show_legend()
        super().leaveEvent(event)

    def set_timezone(self, tz: tzinfo) -> None:
        self.tz = tz
        self.axis.set_timezone(tz)
        self._show_legend(self._hover)


class ChartGraphics(pg.GraphicsLayoutWidget):
    """The chart's graphics view; tells listeners when a frame has been painted (latency probes)."""

    def __init__(self) -> None:
        super().__init__()
        self.frame_listeners: list = []

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        for listener in self.frame_listeners:
            listener()


def _day_starts(starts: np.ndarray) -> np.ndarray:
    """New York day start of each candle start.

    From 05:00 UTC (00:00 EST / 01:00 EDT) to midnight UTC a time's New York date is its UTC
    date, so those candles — every regular-session candle — need one time-zone lookup per
    UTC date; only the few before 05:00 UTC are looked up per hour.
    """
    out = np.empty(len(starts), dtype=np.int64)
    if len(starts) == 0:
        return out
    day_ms, hour_ms = 86_400_000, 3_600_000
    same_date = (starts % day_ms) >= 5 * hour_ms
    dates, inverse = np.unique(starts[same_date] // day_ms, return_inverse=True)
    out[same_date] = np.array([ny_day_start(int(d) * day_ms + 12 * hour_ms) for d in dates], dtype=np.int64)[inverse]
    early = ~same_date
    if early.any():
        hours, inverse = np.unique(starts[early] // hour_ms, return_inverse=True)
        out[early] = np.array([ny_day_start(int(h) * hour_ms) for h in hours], dtype=np.int64)[inverse]
    return out
