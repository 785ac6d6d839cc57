"""The chart widget: price pane (candles, session VWAP, news markers, crosshair) over a volume pane.

It owns its plot items for its whole life and feeds them new data; a symbol or
timeframe switch swaps the :class:`ChartData`, a tick updates one candle. It follows
the live edge until the user pans, then offers to resume.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget, QVBoxLayout

from app.chart.axis import TimeAxis
from app.chart.data import ChartData
from app.chart.items import CandleItem, VolumeItem
from app.impact_view import impact_colour, impact_size
from backend.model import Article, Candle, Timeframe
from backend.pipeline import CandleSeries
from backend.timeutil import ny_day_start

LIVE_WINDOW = 120  # candles shown when following the live edge
MARKER = QColor(66, 165, 245)
MARKER_HIGHLIGHT = QColor(255, 235, 59)


class ChartView(QWidget):
    """Candles + volume + news markers for one symbol and timeframe."""

    article_clicked = Signal(object)  # Article
    follow_changed = Signal(bool)

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.symbol = ""
        self.timeframe = Timeframe.M1
        self.data = ChartData()
        self.following = True
        self._articles: dict[str, Article] = {}
        self._impacts: dict = {}  # article id → NewsImpact for this symbol
        self._highlighted: str | None = None
        self._adjusting = False
        self._loading: list[Candle] | None = None  # candles streamed while a history load is in flight

        self.graphics = ChartGraphics()
        self.graphics.setBackground("#121417")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.axis = TimeAxis(self.data, tz)
        self.price = self.graphics.addPlot(row=0, col=0)
        self.volume = self.graphics.addPlot(row=1, col=0, axisItems={"bottom": self.axis})
        self.graphics.ci.layout.setRowStretchFactor(0, 4)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.price.hideAxis("bottom")
        self.price.showAxis("right")
        self.price.hideAxis("left")
        self.volume.showAxis("right")
        self.volume.hideAxis("left")
        self.volume.setXLink(self.price)
        for plot in (self.price, self.volume):
            plot.setMenuEnabled(False)
            plot.showGrid(x=False, y=False)
            plot.vb.setMouseEnabled(x=True, y=False)
            plot.vb.disableAutoRange()
        self.price.getAxis("right").setWidth(70)
        self.volume.getAxis("right").setWidth(70)

        self.candles = CandleItem(self.data)
        self.volumes = VolumeItem(self.data)
        self.price.addItem(self.candles)
        self.volume.addItem(self.volumes)

        self.markers = pg.ScatterPlotItem(symbol="t1", size=13, pen=pg.mkPen("#0d47a1"), brush=MARKER,
                                          hoverable=True, hoverSize=17, tip=self._marker_tip)
        self.markers.setZValue(10)
        self.markers.sigClicked.connect(self._on_markers_clicked)
        self.price.addItem(self.markers)

        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        for line in (self.vline, self.hline):
            line.setZValue(20)
            self.price.addItem(line, ignoreBounds=True)
        self.readout = pg.LabelItem(justify="left")
        self.graphics.addItem(self.readout, row=2, col=0)
        self.price.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.price.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self.price.vb.sigRangeChangedManually.connect(self._on_user_panned)
        self.price.vb.sigResized.connect(self._on_x_range_changed)

    # -- data -------------------------------------------------------------------------------------

    def begin_load(self, symbol: str, timeframe: Timeframe) -> None:
        """A history load for ``symbol`` started: keep its streamed candles until :meth:`set_series`."""
        self.symbol, self.timeframe = symbol, Timeframe(timeframe)
        self._loading = []

    def set_impacts(self, impacts: dict) -> None:
        """Impacts of this symbol's articles (article id → NewsImpact): marker colour and size."""
        self._impacts = dict(impacts)
        self._refresh_markers()

    def apply_impacts(self, impacts: list) -> None:
        mine = [i for i in impacts if i.symbol == self.symbol]
        if mine:
            self._impacts.update((i.article_id, i) for i in mine)
            self._refresh_markers()

    def set_series(self, series: CandleSeries, articles: list[Article]) -> None:
        """Show a freshly loaded symbol/timeframe, then the candles that streamed in meanwhile."""
        self.symbol, self.timeframe = series.symbol, series.timeframe
        streamed, self._loading = self._loading or [], None
        days = _day_starts(series.start)
        self.data = ChartData.from_series(series, days)
        self.axis.data = self.data
        self.candles.reset(self.data)
        self.volumes.reset(self.data)
        self._articles = {a.id: a for a in articles}
        self.apply_candles(streamed)
        self._refresh_markers()
        self.resume_live()

    def apply_candles(self, candles: list[Candle]) -> None:
        """Apply streamed candles of any symbol/timeframe; only ours are used."""
        if self._loading is not None:
            self._loading.extend(c for c in candles if c.symbol == self.symbol and c.timeframe == self.timeframe)
            return
        appended = False
        for c in candles:
            if c.symbol != self.symbol or c.timeframe != self.timeframe:
                continue
            kind, index = self.data.upsert(c, ny_day_start(c.start_ms))
            self.candles.changed(kind, index)
            self.volumes.changed(kind, index)
            appended |= kind != "live"
        if appended:
            self._refresh_markers()
            if self.following:
                self._show_live_edge()
        elif self.following and self.data.n:
            self._fit_y(grow_only=True)

    def add_articles(self, articles: list[Article]) -> None:
        mine = [a for a in articles if self.symbol in a.symbols]
        if mine:
            for a in mine:
                self._articles[a.id] = a
            self._refresh_markers()

    # -- navigation -------------------------------------------------------------------------------

    def resume_live(self) -> None:
        """Follow the live edge again."""
        self._set_following(True)
        self._show_live_edge()

    def show_article(self, article_id: str) -> bool:
        """Scroll the chart to an article's marker and highlight it; False if it is not on this chart."""
        article = self._articles.get(article_id)
        if article is None:
            return False
        x = self.data.index_at(article.published_ms)
        if x is None:
            return False
        self._set_following(False)
        self._highlighted = article_id
        (x0, x1), _ = self.price.vb.viewRange()
        half = max(20.0, (x1 - x0) / 2)
        self._adjusting = True
        self.price.setXRange(x - half, x + half, padding=0)
        self._adjusting = False
        self._on_x_range_changed()
        self._refresh_markers()
        return True

    def marker_position(self, article_id: str) -> tuple[float, float] | None:
        """Where an article's marker is, in data coordinates (for tests and tooling)."""
        for spot in self.markers.points():
            if spot.data() == article_id:
                pos = spot.pos()
                return pos.x(), pos.y()
        return None

    # -- internals --------------------------------------------------------------------------------

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
        self._fit_y()

    def _fit_y(self, grow_only: bool = False) -> None:
        """Fit both panes' y ranges to the visible candles; ``grow_only`` (live ticks) leaves a range
        that still holds everything alone, so a tick does not re-lay the axes."""
        n = self.data.n
        if n == 0:
            return
        (x0, x1), (y0, y1) = self.price.vb.viewRange()
        i0, i1 = max(0, int(x0)), min(n, int(x1) + 1)
        if i1 <= i0:
            i0, i1 = max(0, n - 1), n
        vwap = self.data.session_vwap[i0:i1]
        lo = min(float(self.data.low[i0:i1].min()), float(vwap.min()))
        hi = max(float(self.data.high[i0:i1].max()), float(vwap.max()))
        vmax = float(self.data.volume[i0:i1].max()) or 1.0
        if grow_only and y0 <= lo and hi <= y1 and vmax <= self.volume.vb.viewRange()[1][1]:
            return
        pad = (hi - lo) * 0.08 or hi * 0.01
        self.price.setYRange(lo - pad, hi + pad * 1.6, padding=0)
        self.volume.setYRange(0, vmax * 1.1, padding=0)

    def _refresh_markers(self) -> None:
        spots = []
        d = self.data
        for a in sorted(self._articles.values(), key=lambda a: a.published_ms):
            x = d.index_at(a.published_ms)
            if x is None:
                continue
            i = min(int(x), d.n - 1)
            highlighted = a.id == self._highlighted
            impact = self._impacts.get(a.id)
            spots.append({
                "pos": (x, d.high[i] * 1.0015), "data": a.id,
                "size": impact_size(impact) + (5 if highlighted else 0),
                "brush": MARKER_HIGHLIGHT if highlighted else (impact_colour(impact) if impact else MARKER),
            })
        self.markers.setData(spots)

    def _marker_tip(self, x, y, data):
        article = self._articles.get(data)
        if article is None:
            return ""
        when = datetime.fromtimestamp(article.published_ms / 1000, tz=self.tz).strftime("%b %d %H:%M")
        impact = self._impacts.get(data)
        headline = impact.headline if impact else None
        move = f" ({headline.return_pct:+.2f}% at +{headline.minutes}m)" if headline and headline.return_pct is not None else ""
        return f"{when} — {article.title}{move}"

    def _on_markers_clicked(self, _item, points, _ev):
        if len(points):
            article = self._articles.get(points[0].data())
            if article is not None:
                self._highlighted = article.id
                self._refresh_markers()
                self.article_clicked.emit(article)

    def _on_mouse_moved(self, pos):
        vb = self.price.vb
        if not self.price.sceneBoundingRect().contains(pos) or self.data.n == 0:
            return
        point = vb.mapSceneToView(pos)
        i = int(round(point.x()))
        self.vline.setPos(point.x())
        self.hline.setPos(point.y())
        if 0 <= i < self.data.n:
            d = self.data
            t = datetime.fromtimestamp(d.start[i] / 1000, tz=self.tz).strftime("%Y-%m-%d %H:%M")
            self.readout.setText(
                f"<span style='color:#ddd'>{self.symbol} {self.timeframe} {t}  O {d.open[i]:.2f}  H {d.high[i]:.2f}  "
                f"L {d.low[i]:.2f}  C {d.close[i]:.2f}  V {d.volume[i]:,.0f}  VWAP {d.session_vwap[i]:.2f}</span>"
            )

    def set_timezone(self, tz: tzinfo) -> None:
        self.tz = tz
        self.axis.tz = tz
        self.axis.picture = None
        self.axis.update()


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
