"""pyqtgraph's classic candlestick pattern, as a reference for issue 7's chart comparison.

pyqtgraph's examples draw candlesticks with a custom ``GraphicsObject`` that records every
candle into one ``QPicture`` when its data is set, replays that picture in ``paint()`` and
reports the picture's bounds. Updating it means setting the data again, which records the
whole picture again. This module is our own implementation of that pattern (candles and a
volume pane as such items, the session VWAP as a ``PlotCurveItem``), measured by
:mod:`bench.chart_harness` with the same data, window size and updates as TickerWire's chart.

Run: ``xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m bench.chart_qpicture --sizes 100000``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui

from bench import chart_harness as harness

UP, DOWN = (38, 166, 154), (239, 83, 80)


class PictureCandles(pg.GraphicsObject):
    """All candles (or volume bars) recorded into one QPicture whenever the data is set."""

    def __init__(self, volume: bool = False) -> None:
        super().__init__()
        self.volume = volume
        self.picture = QtGui.QPicture()
        self.columns: tuple = ()

    def set_data(self, open_, high, low, close, vol) -> None:
        self.columns = (open_, high, low, close, vol)
        self._record()
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.update()

    def _record(self) -> None:
        o, h, l, c, v = (a.tolist() for a in self.columns)
        pens = {True: pg.mkPen(UP), False: pg.mkPen(DOWN)}
        brushes = {True: pg.mkBrush(UP), False: pg.mkBrush(DOWN)}
        picture = QtGui.QPicture()
        p = QtGui.QPainter(picture)
        for i, (oi, hi, li, ci, vi) in enumerate(zip(o, h, l, c, v)):
            up = ci >= oi
            p.setPen(pens[up])
            p.setBrush(brushes[up])
            if self.volume:
                p.drawRect(QtCore.QRectF(i - 0.4, 0.0, 0.8, vi))
            else:
                p.drawLine(QtCore.QPointF(i, li), QtCore.QPointF(i, hi))
                p.drawRect(QtCore.QRectF(i - 0.4, oi, 0.8, ci - oi))
        p.end()
        self.picture = picture

    def paint(self, p, *args) -> None:
        p.drawPicture(0, 0, self.picture)

    def boundingRect(self):  # noqa: N802 (Qt API)
        return QtCore.QRectF(self.picture.boundingRect())


class ProbedLayout(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that tells listeners when a frame has been painted."""

    def __init__(self) -> None:
        super().__init__()
        self.frame_listeners: list = []

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        for listener in self.frame_listeners:
            listener()


class ClassicQPictureChart(harness.ChartAdapter):
    """Price pane (candles + VWAP curve) over a volume pane, as a pyqtgraph user writes it."""

    name = "qpicture"

    def __init__(self) -> None:
        self.binding = pg.Qt.QT_LIB

    def setup(self, rows: list[tuple]) -> None:
        cols = list(zip(*rows))
        self.start = np.array(cols[0], dtype=np.int64)
        self.o, self.h, self.l, self.c, self.v, self.w = (np.array(x, dtype=float) for x in cols[1:])
        self.win = ProbedLayout()
        self.win.setBackground("#121417")
        self.price = self.win.addPlot(row=0, col=0)
        self.vol = self.win.addPlot(row=1, col=0)
        self.win.ci.layout.setRowStretchFactor(0, 4)
        self.win.ci.layout.setRowStretchFactor(1, 1)
        self.vol.setXLink(self.price)
        for plot in (self.price, self.vol):
            plot.vb.disableAutoRange()
        self.candles, self.volumes = PictureCandles(), PictureCandles(volume=True)
        self.vwap = pg.PlotCurveItem(pen=pg.mkPen((255, 183, 77), width=1.5))
        self.price.addItem(self.candles)
        self.price.addItem(self.vwap)
        self.vol.addItem(self.volumes)
        self.price.vb.sigXRangeChanged.connect(self._fit_y)
        self.win.resize(harness.WIDTH, harness.HEIGHT)
        self.win.show()

    @property
    def viewport(self):
        return self.win.viewport()

    @property
    def frame_listeners(self) -> list:
        return self.win.frame_listeners

    @property
    def n(self) -> int:
        return len(self.o)

    def _set_all(self) -> None:
        self.candles.set_data(self.o, self.h, self.l, self.c, self.v)
        self.volumes.set_data(self.o, self.h, self.l, self.c, self.v)
        self.vwap.setData(np.arange(self.n, dtype=float), harness.session_vwap(self.start, self.w, self.v))

    def load(self) -> None:
        self._set_all()
        self._show_live_edge()

    def tick(self, k: int) -> None:
        i = self.n - 1
        self.o[i], self.h[i], self.l[i], self.c[i], self.v[i] = harness.live_tick_values(
            self.o[i], self.h[i], self.l[i], self.c[i], self.v[i], k)
        self._set_all()
        self._fit_y()

    def append(self) -> None:
        start, o, h, l, c, v, w = harness.append_values(int(self.start[-1]), float(self.c[-1]))
        self.start = np.append(self.start, start)
        self.o, self.h, self.l, self.c = (np.append(a, x) for a, x in ((self.o, o), (self.h, h), (self.l, l), (self.c, c)))
        self.v, self.w = np.append(self.v, v), np.append(self.w, w)
        self._set_all()
        self._show_live_edge()

    def _show_live_edge(self) -> None:
        self.set_x_range(max(-0.5, self.n - harness.LIVE_WINDOW), self.n + 2)

    def set_x_range(self, x0: float, x1: float) -> None:
        self.price.setXRange(x0, x1, padding=0)  # y follows through sigXRangeChanged

    def _fit_y(self, *_) -> None:
        (x0, x1), _ = self.price.vb.viewRange()
        i0, i1 = max(0, int(x0)), min(self.n, int(x1) + 1)
        if i1 <= i0:
            i0, i1 = max(0, self.n - 1), self.n
        lo, hi = float(self.l[i0:i1].min()), float(self.h[i0:i1].max())
        pad = (hi - lo) * 0.08 or hi * 0.01
        self.price.setYRange(lo - pad, hi + pad * 1.6, padding=0)
        self.vol.setYRange(0, float(self.v[i0:i1].max()) * 1.1, padding=0)

    def close(self) -> None:
        self.win.close()
        self.win.deleteLater()


if __name__ == "__main__":
    harness.main(ClassicQPictureChart, "chart_qpicture")
