"""An indicator in a pane of its own (the RSI pane): one long-lived item drawn like the candles.

:class:`IndicatorItem` reuses :class:`~app.chart.items.ChunkedItem`'s pictures and levels of
detail: finished stretches of the line are recorded once, and a live tick rebuilds only the
last group's small picture. (Overlays on the price pane are drawn by the candle item itself.)
"""

from __future__ import annotations

from PySide6.QtGui import QPainter

from app.chart.data import ChartData
from app.chart.indicators import IndicatorColumns
from app.chart.items import ChunkedItem
from app.chart.lines import draw_indicator, indicator_color


class IndicatorItem(ChunkedItem):
    """Draws one :class:`IndicatorColumns` over the candles' x positions."""

    def __init__(self, data: ChartData, columns: IndicatorColumns, color: str) -> None:
        super().__init__(data)
        self.columns = columns
        self.color = indicator_color(columns, color)

    def y_extent(self, i0: int, i1: int) -> tuple[float, float]:
        found = self.columns.extent(i0, i1)
        return found if found is not None else (0.0, 100.0)

    def draw(self, p: QPainter, i0: int, i1: int, size: int) -> None:
        draw_indicator(p, self.columns, self.color, i0, i1, size)
