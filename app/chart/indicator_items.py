"""Indicator lines on the chart: one long-lived item per indicator, drawn like the candles.

:class:`IndicatorItem` reuses :class:`~app.chart.items.ChunkedItem`'s pictures and levels of
detail: finished stretches of the line are recorded once, and a live tick rebuilds only the
last group's small picture. Bollinger bands fill the space between their bands.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPolygonF

from app.chart.data import ChartData
from app.chart.indicators import IndicatorColumns
from app.chart.items import ChunkedItem, cosmetic_pen

#: Line colours, handed out in the order indicators are switched on (VWAP is orange, markers blue).
PALETTE = ("#ba68c8", "#4dd0e1", "#fff176", "#f06292", "#aed581", "#90a4ae")
BAND = QColor(144, 202, 249)


class IndicatorItem(ChunkedItem):
    """Draws one :class:`IndicatorColumns` (one line, or three bands) over the candles' x positions."""

    def __init__(self, data: ChartData, columns: IndicatorColumns, color: str) -> None:
        super().__init__(data)
        self.columns = columns
        self.color = QColor(BAND if columns.spec.kind == "bb" else color)

    def y_extent(self, i0: int, i1: int) -> tuple[float, float]:
        found = self.columns.extent(i0, i1)
        if found is not None:
            return found
        d = self.data
        return (float(d.close[i0:i1].min()), float(d.close[i0:i1].max())) if i1 > i0 else (0.0, 1.0)

    def draw(self, p: QPainter, i0: int, i1: int, size: int) -> None:
        """Each group's value at its last candle, joined to the previous group so chunks connect."""
        last = np.minimum(np.arange(i0, i1, size) + size, i1) - 1
        x = np.arange(i0, i1, size) + (last - np.arange(i0, i1, size)) / 2.0
        if i0 > 0:
            x = np.r_[float(i0 - 1) - (size - 1) / 2.0 if size > 1 else float(i0 - 1), x]
            last = np.r_[i0 - 1, last]
        names = self.columns.spec.outputs
        values = {name: self.columns.outputs[name][last] for name in names}
        if self.columns.spec.kind == "bb":
            fill = QColor(BAND)
            fill.setAlpha(28)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(fill)
            for a, b in _finite_runs(values["upper"]):
                p.drawPolygon(QPolygonF([QPointF(u, v) for u, v in zip(x[a:b], values["upper"][a:b])]
                                        + [QPointF(u, v) for u, v in zip(x[a:b][::-1], values["lower"][a:b][::-1])]))
        for name in names:
            color = QColor(self.color)
            if name == "middle":
                color.setAlpha(150)
            p.setPen(cosmetic_pen(color, 1.2))
            ys = values[name]
            for a, b in _finite_runs(ys):
                if b - a > 1:
                    p.drawPolyline(QPolygonF([QPointF(u, v) for u, v in zip(x[a:b].tolist(), ys[a:b].tolist())]))


def _finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of finite values."""
    ok = np.isfinite(values).astype(np.int8)
    edges = np.diff(np.r_[0, ok, 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
