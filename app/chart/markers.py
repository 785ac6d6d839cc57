"""News markers on the price pane: a triangle per article above its candle, coloured and sized by the
article's price impact, stacked when several share a candle, the highlighted one always on top.

:class:`NewsMarkers` owns the marker item and the articles and impacts of the chart's symbol; the
chart tells it when candles, the y scale or the highlight change, and it lays the markers out then
(a few pixels above each candle's high, whatever the zoom).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Callable

import pyqtgraph as pg
from PySide6.QtGui import QColor

from app.chart.data import ChartData
from app.impact_view import impact_colour, impact_size
from app.text import rich_tooltip
from backend.model import Article

MARKER = QColor(66, 165, 245)
MARKER_HIGHLIGHT = QColor(255, 235, 59)
MARKER_GAP_PX, MARKER_STACK_PX = 12, 15  # a marker's height above its candle; each stacked one's step


class NewsMarkers:
    """The marker item of one plot; ``on_click(article)`` when the user clicks a marker."""

    def __init__(self, plot: pg.PlotItem, tz: Callable[[], tzinfo], on_click: Callable[[Article], None]) -> None:
        self._plot, self._tz, self._on_click = plot, tz, on_click
        self.articles: dict[str, Article] = {}
        self.impacts: dict = {}  # article id → NewsImpact for the chart's symbol
        self.highlighted: str | None = None
        self.data = ChartData()
        self.item = pg.ScatterPlotItem(symbol="t1", size=13, pen=pg.mkPen("#0d47a1"), brush=MARKER,
                                       hoverable=True, hoverSize=17, tip=self._tip)
        self.item.setZValue(10)
        self.item.sigClicked.connect(self._on_clicked)
        plot.addItem(self.item)

    def refresh(self, data: ChartData | None = None) -> None:
        """Lay the markers out over ``data`` (the chart's candles) at the current y scale."""
        if data is not None:
            self.data = data
        d, vb = self.data, self._plot.vb
        (_, _), (y0, y1) = vb.viewRange()
        per_px = (y1 - y0) / max(1.0, vb.height())
        placed, spots, highlighted = {}, [], None
        for a in sorted(self.articles.values(), key=lambda a: a.published_ms):
            x = d.index_at(a.published_ms)
            if x is None:
                continue
            i = min(int(x), d.n - 1)
            k = placed.get(i, 0)
            placed[i] = k + 1
            impact = self.impacts.get(a.id)
            y = d.high[i] + (MARKER_GAP_PX + k * MARKER_STACK_PX) * per_px
            spot = {"pos": (x, y), "data": a.id, "size": impact_size(impact),
                    "brush": impact_colour(impact) if impact else MARKER}
            if a.id == self.highlighted:
                spot.update(size=spot["size"] + 5, brush=MARKER_HIGHLIGHT)
                highlighted = spot
            else:
                spots.append(spot)
        if highlighted is not None:
            spots.append(highlighted)  # drawn last: never under another marker
        self.item.setData(spots)

    def position(self, article_id: str) -> tuple[float, float] | None:
        """Where an article's marker is, in data coordinates."""
        for spot in self.item.points():
            if spot.data() == article_id:
                pos = spot.pos()
                return pos.x(), pos.y()
        return None

    def _tip(self, x, y, data) -> str:
        article = self.articles.get(data)
        if article is None:
            return ""
        when = datetime.fromtimestamp(article.published_ms / 1000, tz=self._tz()).strftime("%b %d %H:%M")
        impact = self.impacts.get(data)
        headline = impact.headline if impact else None
        move = (f" ({headline.return_pct:+.2f}% at +{headline.minutes}m)"
                if headline and headline.return_pct is not None else "")
        return rich_tooltip(f"{when} — {article.title}{move}")

    def _on_clicked(self, _item, points, _ev) -> None:
        if len(points):
            article = self.articles.get(points[0].data())
            if article is not None:
                self.highlighted = article.id
                self.refresh()
                self._on_click(article)
