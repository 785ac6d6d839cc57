"""Drawing indicator lines into a painter while a picture is recorded (never in ``paint()``).

Shared by the candle item (overlays on the price pane are recorded into the candles' own
pictures: no extra item to repaint on a tick) and :class:`~app.chart.indicator_items.IndicatorItem`
(the RSI pane). Each group's value is taken at its last candle and joined to the previous group's,
so pictures recorded separately connect; NaN (warm-up) breaks a line.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from app.chart.indicators import IndicatorColumns

#: Line colours, handed out in the order indicators are switched on (VWAP is orange, markers blue).
PALETTE = ("#ba68c8", "#4dd0e1", "#fff176", "#f06292", "#aed581", "#90a4ae")
BAND = QColor(144, 202, 249)
BAND_FILL_ALPHA = 28


def cosmetic_pen(color: QColor, width: float = 1.0) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)
    return pen


def indicator_color(columns: IndicatorColumns, color: str) -> QColor:
    """Bollinger bands are always the band blue; other indicators take their palette colour."""
    return QColor(BAND if columns.spec.kind == "bb" else color)


def draw_indicator(p: QPainter, columns: IndicatorColumns, color: QColor, i0: int, i1: int, size: int) -> None:
    """Groups ``[i0, i1)`` of ``size`` candles (values at each group's last candle, x at its centre)."""
    if size == 1 and 0 < i0 and i1 - i0 == 1:
        _draw_segment(p, columns, color, i0)  # the live candle of a tick
        return
    starts = np.arange(i0, i1, size)
    last = np.minimum(starts + size, i1) - 1
    x = starts + (last - starts) / 2.0
    if i0 > 0:
        x = np.r_[float(i0 - 1) - (size - 1) / 2.0 if size > 1 else float(i0 - 1), x]
        last = np.r_[i0 - 1, last]
    values = {name: columns.outputs[name][last] for name in columns.spec.outputs}
    if columns.spec.kind == "bb":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(_fill())
        for a, b in _finite_runs(values["upper"]):
            p.drawPolygon(QPolygonF([QPointF(u, v) for u, v in zip(x[a:b], values["upper"][a:b])]
                                    + [QPointF(u, v) for u, v in zip(x[a:b][::-1], values["lower"][a:b][::-1])]))
    for name in columns.spec.outputs:
        p.setPen(cosmetic_pen(_line_color(color, name)))
        ys = values[name]
        for a, b in _finite_runs(ys):
            if b - a > 1:
                p.drawPolyline(QPolygonF([QPointF(u, v) for u, v in zip(x[a:b].tolist(), ys[a:b].tolist())]))


def _draw_segment(p: QPainter, columns: IndicatorColumns, color: QColor, i: int) -> None:
    """The segment from candle ``i - 1`` to ``i`` of each output (and of the band's fill)."""
    out = columns.outputs
    x0, x1 = float(i - 1), float(i)
    if columns.spec.kind == "bb":
        u0, u1, l0, l1 = (float(out[k][j]) for k, j in (("upper", i - 1), ("upper", i), ("lower", i - 1),
                                                          ("lower", i)))
        if all(map(math.isfinite, (u0, u1, l0, l1))):
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(_fill())
            p.drawPolygon(QPolygonF([QPointF(x0, u0), QPointF(x1, u1), QPointF(x1, l1), QPointF(x0, l0)]))
    for name in columns.spec.outputs:
        y0, y1 = float(out[name][i - 1]), float(out[name][i])
        if math.isfinite(y0) and math.isfinite(y1):
            p.setPen(cosmetic_pen(_line_color(color, name)))
            p.drawLine(QPointF(x0, y0), QPointF(x1, y1))


def _line_color(color: QColor, name: str) -> QColor:
    if name != "middle":
        return color
    faded = QColor(color)
    faded.setAlpha(150)
    return faded


def _fill() -> QColor:
    fill = QColor(BAND)
    fill.setAlpha(BAND_FILL_ALPHA)
    return fill


def _finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of finite values."""
    ok = np.isfinite(values).astype(np.int8)
    edges = np.diff(np.r_[0, ok, 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
