"""Chart overlays: the last-price tag on the price scale, pre/post-market shading, and their geometry.

Both are long-lived items fed new values; the tag's text and size are laid out when the value
changes, and the shading's runs of out-of-session candles are computed when the candles change.
``paint()`` only fills and draws what was prepared.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject

from app.chart.data import ChartData
from backend.model import MINUTE_MS, Timeframe

SESSION_OPEN_MIN, SESSION_CLOSE_MIN = 9 * 60 + 30, 16 * 60
SHADE = QColor(255, 255, 255, 14)


class PriceTag(QGraphicsObject):
    """A coloured box on the price axis with the last price and, below it, the time left in the candle."""

    PAD = 3.0

    def __init__(self, axis: pg.AxisItem) -> None:
        super().__init__(axis)
        self.setZValue(100)
        self._font = QFont()
        self._font.setPointSizeF(max(7.0, self._font.pointSizeF() * 0.9))
        self._lines: tuple[str, ...] = ()
        self._color = QColor(38, 166, 154)
        self._rect = QRectF()
        self._line_height = QFontMetricsF(self._font).height()

    def set_text(self, lines: tuple[str, ...], color: QColor) -> None:
        """Lay out new text (only when it changed: a tick that keeps the rounded price costs nothing)."""
        if lines == self._lines and color == self._color:
            return
        metrics = QFontMetricsF(self._font)
        width = max((metrics.horizontalAdvance(t) for t in lines), default=0.0) + 2 * self.PAD
        height = self._line_height * len(lines) + 2 * self.PAD
        if (width, height) != (self._rect.width(), self._rect.height()):
            self.prepareGeometryChange()
            self._rect = QRectF(0.0, -self._line_height / 2 - self.PAD, width, height)
        self._lines, self._color = lines, QColor(color)
        self.update()

    @property
    def text(self) -> str:
        return "\n".join(self._lines)

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def paint(self, p: QPainter, option, widget=None) -> None:
        if not self._lines:
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._color)
        p.drawRoundedRect(self._rect, 2, 2)
        p.setPen(QColor("#ffffff"))
        p.setFont(self._font)
        y = self._rect.top() + self.PAD
        for line in self._lines:
            p.drawText(QRectF(self._rect.left() + self.PAD, y, self._rect.width(), self._line_height),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)
            y += self._line_height


class SessionShade(pg.GraphicsObject):
    """Shades runs of pre- and post-market candles across the whole height of the view.

    Only while candles are at least :data:`MIN_CANDLE_PX` wide: zoomed out over months the runs
    would be hairlines, and hundreds of them cost more to fill than the candles cost to draw.
    """

    MIN_CANDLE_PX = 2.0

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.setZValue(-10)
        self._first = np.empty(0, dtype=np.int64)  # first index of each run
        self._last = np.empty(0, dtype=np.int64)  # last index of each run
        self._shown = True

    def set_visible_range(self, x0: float, x1: float, width_px: float) -> None:
        """Called on view range/size change: shade only when candles are wide enough to tell apart."""
        shown = width_px / max(1.0, x1 - x0) >= self.MIN_CANDLE_PX
        if shown != self._shown:
            self._shown = shown
            self.update()

    def set_runs(self, first: np.ndarray, last: np.ndarray) -> None:
        self.prepareGeometryChange()
        self._first, self._last = first, last
        self.update()

    @property
    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._first.tolist(), self._last.tolist()))

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph API)
        self.prepareGeometryChange()  # the height follows the view
        super().viewTransformChanged()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        if not len(self._first):
            return QRectF()
        view = self.viewRect()
        if view is None:
            return QRectF()
        x0, x1 = float(self._first[0]) - 0.5, float(self._last[-1]) + 0.5
        return QRectF(x0, view.top(), x1 - x0, view.height())

    def paint(self, p: QPainter, option, widget=None) -> None:
        if not self._shown:
            return
        exposed = option.exposedRect
        k0 = int(np.searchsorted(self._last, exposed.left() - 0.5))
        k1 = int(np.searchsorted(self._first, exposed.right() + 0.5, side="right"))
        # Filled in device pixels: a translucent rect under the view's scaling would be rasterised as a path.
        to_device = p.transform()
        p.resetTransform()
        for a, b in zip(self._first[k0:k1].tolist(), self._last[k0:k1].tolist()):
            p.fillRect(to_device.mapRect(QRectF(a - 0.5, exposed.top(), b - a + 1.0, exposed.height())).toAlignedRect(),
                       SHADE)
        p.setTransform(to_device)


def outside_session(data: ChartData, timeframe: Timeframe, frm: int = 0) -> np.ndarray:
    """True for candles ``[frm, n)`` that lie wholly outside New York's regular session (intraday only)."""
    n = data.n
    if Timeframe(timeframe) == Timeframe.D1 or frm >= n:
        return np.zeros(max(0, n - frm), dtype=bool)
    minute = (data.start[frm:n] - data.day[frm:n]) // MINUTE_MS
    length = Timeframe(timeframe).ms // MINUTE_MS
    return (minute + length <= SESSION_OPEN_MIN) | (minute >= SESSION_CLOSE_MIN)


def runs(mask: np.ndarray, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) indices of each run of True in ``mask`` (indices shifted by ``offset``)."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(edges == 1) + offset, np.flatnonzero(edges == -1) - 1 + offset


def price_y(axis: pg.AxisItem, view: pg.ViewBox, price: float) -> float:
    """Where a price sits on the axis, in the axis item's coordinates."""
    return axis.mapFromScene(view.mapViewToScene(QPointF(0.0, price))).y()
