"""Long-lived pyqtgraph items that draw candles and volume bars from :class:`ChartData`.

Drawing is precomputed: finished candles are recorded into ``QPicture`` chunks of
:data:`CHUNK` groups, at levels of detail where one drawn group merges ``4**level``
candles (so a fully zoomed-out chart of a million candles still draws ~1,000
shapes). The last :data:`TAIL` finished groups have a small picture of their own and
the live candle (and the level's unfinished last group) another, rebuilt on each tick.
``paint()`` only replays pictures that intersect the exposed area; pictures are built in
:meth:`ChunkedItem.prepare`, called when data or the visible range changes — never in
``paint()``.

While the visible range stands still and ticks arrive (following the live edge), the
finished candles are drawn through Qt's device-coordinate cache (a pixmap of what the item
shows), and the live group always by an uncached child item, :class:`LivePicture`. A tick
changes only the child, so the repaint it causes — including the full-width strips where
the last-price line was and is — copies the finished candles from the pixmap instead of
replaying their pictures (that replay was half of a tick's cost). A range change (panning,
zooming, an append that scrolls the live edge) turns the cache off — it would be redrawn
on every frame, on top of the drawing — and the second tick on a still range turns it on.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPicture, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from app.chart.data import ChartData
from app.chart.indicators import IndicatorColumns
from app.chart.lines import cosmetic_pen, draw_indicator

CHUNK = 128  # groups per picture
TAIL = 3  # the last 3-5 finished groups are recorded apart from the chunks (a tick repaints them)
LEVEL_FACTOR = 4
MAX_LEVEL = 8
UP = QColor(38, 166, 154)
DOWN = QColor(239, 83, 80)
VWAP = QColor(255, 183, 77)


class LivePicture(QGraphicsItem):
    """The live group's picture, drawn by an uncached child of its :class:`ChunkedItem`.

    Its bounding rect spans the group's columns over the parent's whole height, so it changes
    only when the live group moves (an append, a level change) and not on every tick; a tick
    marks its own small dirty rects (:meth:`ChunkedItem._repaint`).
    """

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.picture = QPicture()
        self._rect = QRectF()

    def show_picture(self, picture: QPicture, rect: QRectF) -> None:
        self.picture = picture
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def paint(self, p: QPainter, option, widget=None) -> None:
        p.drawPicture(0, 0, self.picture)


class ChunkedItem(pg.GraphicsObject):
    """Base: chunk/level caching, visible-range selection and the live picture."""

    def __init__(self, data: ChartData) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._still = False  # a tick has come since the visible range last changed (see the module docstring)
        self.data = data
        self.level = 0
        self._chunks: dict[tuple[int, int], tuple[QPicture, int]] = {}  # (level, chunk) → (picture, end group)
        self._tail = QPicture()
        self._tail_key: tuple[int, int, int] | None = None  # (level, first group, end group) it holds
        self._tail_x = (0.0, -1.0)
        self._live = LivePicture(self)
        self._live_rect = QRectF()
        self._dirty_before: list[QRectF] = []  # the last tick's dirty rects in the scene (to be erased)
        self._bounds = QRectF()
        self._visible = (0.0, 0.0)

    # -- data changes -----------------------------------------------------------------------------

    def reset(self, data: ChartData) -> None:
        """New data (symbol or timeframe switch): drop every picture."""
        self._uncache()
        self.prepareGeometryChange()
        self.data = data
        self._chunks.clear()
        self._tail_key = None
        self._update_bounds()
        self._rebuild_live()
        self.update()

    def changed(self, kind: str, index: int) -> None:
        """React to :meth:`ChartData.upsert`'s result with the least possible work."""
        if kind == "live":
            self._cache_while_still()
            self._rebuild_live()
            self._grow_bounds(index)
            dirty = [self.mapRectToScene(r) for r in self._live_dirty(index)]
            self._repaint(dirty + self._dirty_before)  # what the tick draws now, and what it drew before
            self._dirty_before = dirty
            return
        if kind == "append":
            # The previous live candle is final now: it joins the tail (no chunk holds the live group's
            # candles at any level, so none is out of date).
            self._tail_key = None
        else:  # an older candle corrected or inserted
            self._invalidate_from(index)
        self._rebuild_live()
        self._update_bounds()
        self.prepare()
        self.update()

    def _cache_while_still(self) -> None:
        if not self._still:
            self._still = True
        elif self.cacheMode() == QGraphicsItem.CacheMode.NoCache:
            self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def _uncache(self) -> None:
        self._still = False
        if self.cacheMode() != QGraphicsItem.CacheMode.NoCache:
            self.setCacheMode(QGraphicsItem.CacheMode.NoCache)

    def _invalidate_from(self, index: int) -> None:
        self._tail_key = None
        for level in range(MAX_LEVEL + 1):
            first_chunk = (index // LEVEL_FACTOR**level) // CHUNK
            for key in [k for k in self._chunks if k[0] == level and k[1] >= first_chunk]:
                del self._chunks[key]

    # -- range and level --------------------------------------------------------------------------

    def set_visible(self, x0: float, x1: float, width_px: float) -> None:
        """Called on view range/size change: choose the level of detail and build missing chunks."""
        self._uncache()
        span = max(1.0, x1 - x0)
        level = 0
        while level < MAX_LEVEL and span / LEVEL_FACTOR**level > max(50.0, width_px / 2.5):
            level += 1
        self._visible = (x0, x1)
        if level != self.level:
            self.level = level
            self._rebuild_live()
        self.prepare()
        self.update()

    def prepare(self) -> None:
        """Record the pictures of visible chunks that are missing or out of date, and the tail."""
        size = LEVEL_FACTOR**self.level
        final_groups = max(0, self.data.n - 1) // size
        # TAIL to 2*TAIL-1 groups: the chunk before it grows once every TAIL appends, not on each one.
        tail0 = (final_groups - TAIL) // TAIL * TAIL if final_groups > TAIL else 0
        x0, x1 = self._visible
        c0 = max(0, int(x0 // size) // CHUNK - 1)
        c1 = min((tail0 - 1) // CHUNK, int(x1 // size) // CHUNK + 1) if tail0 else -1
        for c in range(c0, c1 + 1):
            key = (self.level, c)
            g0, g1 = c * CHUNK, min(tail0, (c + 1) * CHUNK)
            recorded = self._chunks.get(key)
            if recorded is None or recorded[1] != g1:  # missing, or the tail has moved past its end
                self._chunks[key] = (self._record(g0 * size, g1 * size, size), g1)
        if self._tail_key != (self.level, tail0, final_groups):
            self._tail = self._record(tail0 * size, final_groups * size, size)
            self._tail_key = (self.level, tail0, final_groups)
            self._tail_x = (tail0 * size - 1.0, final_groups * size + 0.5)

    def _record(self, i0: int, i1: int, size: int) -> QPicture:
        pic = QPicture()
        p = QPainter(pic)
        if i1 > i0:
            self.draw(p, i0, i1, size)
        p.end()
        return pic

    def _rebuild_live(self) -> None:
        """The live candle's group at the current level (the only picture a tick rebuilds)."""
        n = self.data.n
        if n == 0:
            self._live_rect = QRectF()
            self._live.show_picture(QPicture(), QRectF())
            return
        size = LEVEL_FACTOR**self.level
        i0 = ((n - 1) // size) * size
        self._live_rect = self._group_rect(i0, n, size)
        columns = QRectF(self._live_rect.left(), self._bounds.top(), self._live_rect.width(), self._bounds.height())
        self._live.show_picture(self._record(i0, n, size), columns.united(self._live_rect))

    # -- geometry ---------------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds

    def _update_bounds(self) -> None:
        self.prepareGeometryChange()
        n = self.data.n
        if n == 0:
            self._bounds = QRectF()
            return
        lo, hi = self.y_extent(0, n)
        self._bounds = QRectF(-0.5, lo, n, max(hi - lo, 1e-9))

    def _grow_bounds(self, index: int) -> None:
        lo, hi = self.y_extent(index, index + 1)
        b = self._bounds
        if lo < b.top() or hi > b.bottom() or index + 0.5 > b.right():
            self._update_bounds()

    def _repaint(self, scene_rects: list[QRectF]) -> None:
        """Mark these scene rects dirty in each view, apart: the item's own ``update()`` would unite them
        into one (a tall column for Bollinger bands), and the scene's ``update()`` would paint them in a
        frame of their own, before the rest of the tick (the price line, the tag)."""
        scene, box = self.scene(), self.getViewBox()
        if scene is None or box is None:
            return
        for view in scene.views():
            viewport = view.viewport()
            inside = view.mapFromScene(box.sceneBoundingRect()).boundingRect()  # not the axes around it
            for rect in scene_rects:
                viewport.update(view.mapFromScene(rect).boundingRect().adjusted(-2, -2, 2, 2).intersected(inside))

    def _live_dirty(self, index: int) -> list[QRectF]:
        """What a tick of candle ``index`` repaints (subclasses may name several small rects)."""
        return [self._live_rect.united(self._bar_rect(index))]

    def _bar_rect(self, index: int) -> QRectF:
        lo, hi = self.y_extent(index, index + 1)
        return QRectF(index - 0.5, lo, 1.0, max(hi - lo, 1e-9))

    def _group_rect(self, i0: int, i1: int, size: int) -> QRectF:
        lo, hi = self.y_extent(max(0, i0 - size), i1)  # include the segment joining the previous group
        return QRectF(i0 - size - 0.5, lo, i1 - i0 + 2 * size, max(hi - lo, 1e-9))

    def paint(self, p: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect
        left, right = exposed.left(), exposed.right()
        size = LEVEL_FACTOR**self.level
        c0 = max(0, int(left // size) // CHUNK)
        c1 = int(right // size) // CHUNK
        chunks = self._chunks
        for c in range(c0, c1 + 1):
            recorded = chunks.get((self.level, c))
            if recorded is not None and recorded[1] * size + 0.5 >= left:  # a partial chunk may end before
                p.drawPicture(0, 0, recorded[0])
        if self._tail_x[1] >= left and self._tail_x[0] <= right:
            p.drawPicture(0, 0, self._tail)

    # -- subclass hooks ---------------------------------------------------------------------------

    def y_extent(self, i0: int, i1: int) -> tuple[float, float]:
        raise NotImplementedError

    def draw(self, p: QPainter, i0: int, i1: int, size: int) -> None:
        """Draw candles ``[i0, i1)`` merged ``size`` at a time."""
        raise NotImplementedError


def _groups(data: ChartData, i0: int, i1: int, size: int):
    """Merged OHLCV of consecutive ``size``-candle groups in ``[i0, i1)`` (the last may be partial)."""
    idx = np.arange(i0, i1, size)
    o = data.open[idx]
    h = np.maximum.reduceat(data.high[i0:i1], idx - i0)
    l = np.minimum.reduceat(data.low[i0:i1], idx - i0)
    last = np.minimum(idx + size, i1) - 1
    c = data.close[last]
    v = np.add.reduceat(data.volume[i0:i1], idx - i0)
    w = data.session_vwap[last]
    x = idx + (np.minimum(idx + size, i1) - idx - 1) / 2.0
    return x, o, h, l, c, v, w, idx


class CandleItem(ChunkedItem):
    """Candlesticks with a session-VWAP line and the price pane's indicator overlays.

    Overlays are recorded into the candles' own pictures, so a tick rebuilds one live picture and
    repaints one item however many indicators are on.
    """

    def __init__(self, data: ChartData) -> None:
        super().__init__(data)
        self.overlays: list[tuple[IndicatorColumns, QColor]] = []

    def set_overlays(self, overlays: list[tuple[IndicatorColumns, QColor]]) -> None:
        """Draw these indicators too (their columns already computed): every picture is recorded again."""
        self.overlays = list(overlays)
        self.reset(self.data)
        self.prepare()

    def _live_dirty(self, index: int) -> list[QRectF]:
        """A tick: the candle, its VWAP segment and each overlay line's last segment, as separate rects — not
        their union, which for Bollinger bands is the band's whole height."""
        if self.level != 0 or index == 0:
            return super()._live_dirty(index)
        d, i, j = self.data, index, index - 1
        rects = [QRectF(i - 0.5, float(d.low[i]), 1.0, float(d.high[i] - d.low[i]) or 1e-9)]
        lines = [(d.session_vwap[j], d.session_vwap[i])]
        lines += [(columns.outputs[name][j], columns.outputs[name][i])
                  for columns, _ in self.overlays for name in columns.spec.outputs]
        for a, b in lines:
            a, b = float(a), float(b)
            if a == a and b == b:  # not NaN
                rects.append(QRectF(j - 0.5, min(a, b), 2.0, abs(b - a) or 1e-9))
        return rects

    def y_extent(self, i0: int, i1: int) -> tuple[float, float]:
        d = self.data
        lo, hi = float(d.low[i0:i1].min()), float(d.high[i0:i1].max())
        for columns, _ in self.overlays:
            found = columns.extent(i0, i1)
            if found is not None:
                lo, hi = min(lo, found[0]), max(hi, found[1])
        return lo, hi

    def draw(self, p: QPainter, i0: int, i1: int, size: int) -> None:
        if size == 1 and i1 - i0 == 1 and i0 > 0:
            self._draw_one(p, i0)  # a tick's live candle: plain floats, no arrays
            return
        x, o, h, l, c, _, w, idx = _groups(self.data, i0, i1, size)
        half = 0.4 * size
        up = c >= o
        for mask, color in ((up, UP), (~up, DOWN)):
            xs, os_, hs, ls, cs = x[mask], o[mask], h[mask], l[mask], c[mask]
            p.setPen(cosmetic_pen(color))
            p.drawLines([QLineF(a, lo, a, hi) for a, lo, hi in zip(xs.tolist(), ls.tolist(), hs.tolist())])
            p.setBrush(color)
            p.drawRects([QRectF(a - half, min(b, e), 2 * half, abs(e - b) or 1e-9)
                         for a, b, e in zip(xs.tolist(), os_.tolist(), cs.tolist())])
        # Session VWAP: one polyline per session, joined to the previous group so chunks connect.
        days = self.data.day[np.minimum(idx + size, i1) - 1]
        px, pw, pd = x.tolist(), w.tolist(), days.tolist()
        if i0 > 0:
            prev = i0 - 1
            px.insert(0, float(prev) - (size - 1) / 2.0 if size > 1 else float(prev))
            pw.insert(0, float(self.data.session_vwap[prev]))
            pd.insert(0, int(self.data.day[prev]))
        p.setPen(cosmetic_pen(VWAP, 1.5))
        start = 0
        for k in range(1, len(px) + 1):
            if k == len(px) or (size == 1 and pd[k] != pd[k - 1]):
                if k - start > 1:
                    p.drawPolyline(QPolygonF([QPointF(a, b) for a, b in zip(px[start:k], pw[start:k])]))
                start = k
        for columns, color in self.overlays:
            draw_indicator(p, columns, color, i0, i1, size)

    def _draw_one(self, p: QPainter, i: int) -> None:
        """Candle ``i``, its VWAP segment from candle ``i - 1`` and the overlays' last segments."""
        d = self.data
        o, h, l, c = float(d.open[i]), float(d.high[i]), float(d.low[i]), float(d.close[i])
        color = UP if c >= o else DOWN
        p.setPen(cosmetic_pen(color))
        p.drawLine(QLineF(i, l, i, h))
        p.setBrush(color)
        p.drawRect(QRectF(i - 0.4, min(o, c), 0.8, abs(c - o) or 1e-9))
        if d.day[i - 1] == d.day[i]:
            p.setPen(cosmetic_pen(VWAP, 1.5))
            p.drawLine(QLineF(i - 1, float(d.session_vwap[i - 1]), i, float(d.session_vwap[i])))
        for columns, overlay in self.overlays:
            draw_indicator(p, columns, overlay, i, i + 1, 1)


class VolumeItem(ChunkedItem):
    """Volume bars coloured by candle direction."""

    def y_extent(self, i0: int, i1: int) -> tuple[float, float]:
        return 0.0, float(self.data.volume[i0:i1].max()) if i1 > i0 else 1.0

    def draw(self, p: QPainter, i0: int, i1: int, size: int) -> None:
        if size == 1 and i1 - i0 == 1:  # a tick's live candle
            d = self.data
            shade = QColor(UP if d.close[i0] >= d.open[i0] else DOWN)
            shade.setAlpha(150)
            p.setPen(pg.mkPen(None))
            p.setBrush(shade)
            p.drawRect(QRectF(i0 - 0.4, 0.0, 0.8, float(d.volume[i0])))
            return
        x, o, _, _, c, v, _, idx = _groups(self.data, i0, i1, size)
        v = v / np.minimum(size, i1 - idx)  # average per candle: heights stay comparable across levels
        half = 0.4 * size
        up = c >= o
        p.setPen(pg.mkPen(None))
        for mask, color in ((up, UP), (~up, DOWN)):
            shade = QColor(color)
            shade.setAlpha(150)
            p.setBrush(shade)
            p.drawRects([QRectF(a - half, 0.0, 2 * half, b) for a, b in zip(x[mask].tolist(), v[mask].tolist())])
