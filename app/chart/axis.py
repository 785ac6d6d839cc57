"""The chart's axes: time labels on an index-based x axis, compact volume figures, a draggable price scale.

The x coordinate is the candle index, so :class:`TimeAxis` picks its ticks itself: at candles where
the display-zone clock crosses a round step (5 min, 1 h, a day, a month…) chosen so that labels keep
a minimum pixel gap, with day, month and year boundaries kept first. Wall-clock times of the
candles are computed once per data change (:meth:`TimeAxis.set_data`/:meth:`TimeAxis.data_changed`),
never while painting.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timezone, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics

from app.chart.data import ChartData
from backend.model import Timeframe

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
INTRADAY_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 240)
#: Coarser steps in trading days: a day, a week, a month, a quarter, a year (labels at calendar boundaries).
DAY_STEPS = ((1, "day"), (5, "week"), (21, "month"), (63, "quarter"), (252, "year"))
LABEL_GAP_PX = 18
# Label priorities: a boundary of a longer period wins a crowded spot.
_YEAR, _MONTH, _DAY, _ROUND, _PLAIN = 5, 4, 3, 2, 1


def local_ms(starts: np.ndarray, tz: tzinfo) -> np.ndarray:
    """Wall-clock time in ``tz`` of each UTC ms (as ms since the epoch of that wall clock).

    The UTC offset is looked up once per UTC date; dates whose offset changes within the day
    (daylight-saving switches) are looked up per hour.
    """
    out = np.empty(len(starts), dtype=np.int64)
    if len(starts) == 0:
        return out

    def offset(ms: int) -> int:
        return int(datetime.fromtimestamp(ms / 1000, tz=tz).utcoffset().total_seconds() * 1000)

    days, inverse = np.unique(starts // DAY_MS, return_inverse=True)
    first = np.array([offset(int(d) * DAY_MS) for d in days], dtype=np.int64)
    last = np.array([offset(int(d) * DAY_MS + DAY_MS - 1) for d in days], dtype=np.int64)
    out[:] = starts + first[inverse]
    switching = np.flatnonzero(first != last)
    if len(switching):
        mask = np.isin(inverse, switching)
        hours, inv = np.unique(starts[mask] // HOUR_MS, return_inverse=True)
        out[mask] = starts[mask] + np.array([offset(int(h) * HOUR_MS) for h in hours], dtype=np.int64)[inv]
    return out


class TimeAxis(pg.AxisItem):
    """Bottom axis whose tick values are candle indices, labelled in the chosen time zone."""

    def __init__(self, data: ChartData, tz: tzinfo, **kwargs) -> None:
        super().__init__("bottom", **kwargs)
        self.data = data
        self.tz = tz
        self.timeframe = Timeframe.M1
        self._local = np.empty(0, dtype=np.int64)
        self._day_index = np.empty(0, dtype=np.int64)  # first candle of each local day
        self._labels: dict[float, str] = {}
        self.set_data(data, Timeframe.M1)

    # -- data -------------------------------------------------------------------------------------

    def set_data(self, data: ChartData, timeframe: Timeframe) -> None:
        """New candles (symbol, timeframe or zone switch): recompute every candle's wall-clock time."""
        self.data, self.timeframe = data, Timeframe(timeframe)
        n = data.n
        self._local = np.empty(max(1024, len(data.start)), dtype=np.int64)
        self._local[:n] = local_ms(data.start[:n], self.tz)
        self._update_days()
        self._changed()

    def data_changed(self, kind: str, index: int) -> None:
        """After :meth:`ChartData.upsert`: only the changed candle's time (and, on insert, the ones after)."""
        n = self.data.n
        if len(self._local) < n:
            grown = np.empty(max(n, 2 * len(self._local)), dtype=np.int64)
            grown[:len(self._local)] = self._local
            self._local = grown
        if kind == "live":
            return  # same start, same time
        end = n if kind == "insert" else index + 1
        self._local[index:end] = local_ms(self.data.start[index:end], self.tz)
        if kind == "append" and index == n - 1:
            if index == 0 or self._local[index] // DAY_MS != self._local[index - 1] // DAY_MS:
                self._day_index = np.r_[self._day_index, index]
        else:
            self._update_days()
        self._changed()

    def set_timezone(self, tz: tzinfo) -> None:
        self.tz = tz
        self.set_data(self.data, self.timeframe)

    def _update_days(self) -> None:
        n = self.data.n
        days = self._local[:n] // DAY_MS
        self._day_index = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if n else np.empty(0, np.int64)

    def _changed(self) -> None:
        self.picture = None
        self.update()

    # -- ticks ------------------------------------------------------------------------------------

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph API)
        ticks = self.ticks(minVal, maxVal, size)
        self._labels = {float(i): text for i, text in ticks}
        return [(1.0, [float(i) for i, _ in ticks])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        return [self._labels.get(float(v), "") for v in values]

    def ticks(self, x0: float, x1: float, width_px: float) -> list[tuple[int, str]]:
        """(candle index, label) of the ticks to draw for the visible index range ``[x0, x1]``."""
        n = self.data.n
        i0, i1 = max(0, math.ceil(x0)), min(n - 1, math.floor(x1))
        if i1 < i0 or width_px <= 0 or x1 <= x0:
            return []
        label_px = QFontMetrics(self.style.get("tickFont") or self.font()).horizontalAdvance("Nov 28") + LABEL_GAP_PX
        gap = label_px * (x1 - x0) / width_px  # in candles
        per_day = max(1.0, n / max(1, len(self._day_index)))
        candidates = self._round_ticks(i0, i1, gap, per_day)
        kept: list[int] = []
        out: list[tuple[int, str]] = []
        for priority, i, pattern in sorted(candidates, key=lambda c: (-c[0], c[1])):
            k = bisect.bisect_left(kept, i)
            if (k > 0 and i - kept[k - 1] < gap) or (k < len(kept) and kept[k] - i < gap):
                continue
            kept.insert(k, i)
            out.append((i, _fmt(self._local[i], pattern)))  # only the kept ones are formatted
        return sorted(out)

    def _round_ticks(self, i0: int, i1: int, gap: float, per_day: float) -> list[tuple[int, int, str]]:
        """Candidate (priority, index, strftime pattern) ticks at round times inside ``[i0, i1]``."""
        local = self._local
        out: list[tuple[int, int, str]] = []
        days = self._day_index[(self._day_index >= i0) & (self._day_index <= i1)]
        intraday = self.timeframe != Timeframe.D1 and gap < per_day
        day_step = next((s for s in DAY_STEPS if s[0] * per_day >= gap), DAY_STEPS[-1])
        if len(days):
            prev = np.maximum(days - 1, 0)
            t, before = local[days].astype("datetime64[ms]"), local[prev].astype("datetime64[ms]")
            first = days == 0
            new_year = ~first & (t.astype("datetime64[Y]") != before.astype("datetime64[Y]"))
            new_month = ~first & ~new_year & (t.astype("datetime64[M]") != before.astype("datetime64[M]"))
            plain = ~new_year & ~new_month
            if not intraday and day_step[1] == "week":
                plain &= first | ((local[days] // DAY_MS + 3) // 7 != (local[prev] // DAY_MS + 3) // 7)
            elif not intraday and day_step[1] != "day":
                plain &= False
            out += [(_YEAR, i, "%Y") for i in days[new_year].tolist()]
            out += [(_MONTH, i, "%b") for i in days[new_month].tolist()]
            out += [(_DAY, i, "%b %d") for i in days[plain].tolist()]
        if intraday:
            tf_min = self.timeframe.ms // MINUTE_MS
            step = next((s for s in INTRADAY_STEPS_MIN if s >= gap * tf_min), INTRADAY_STEPS_MIN[-1])
            if step >= tf_min:
                lo = max(0, i0 - 1)
                keys = local[lo:i1 + 1] // (step * MINUTE_MS)
                hits = np.flatnonzero(keys[1:] != keys[:-1]) + lo + 1
                hits = hits[(hits >= i0) & ~np.isin(hits, days)]
                out += [(_ROUND, i, "%H:%M") for i in hits.tolist()]
        return out


def _fmt(local_ms_value, pattern: str) -> str:
    """Format a wall-clock ms value (no zone arithmetic: it already is the display zone's clock)."""
    return datetime.fromtimestamp(int(local_ms_value) / 1000, tz=timezone.utc).strftime(pattern)


class VolumeAxis(pg.AxisItem):
    """Volume figures as a trader writes them: 250K, 1.5M, 2B."""

    def __init__(self, orientation: str = "right", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        return [compact(v * scale) for v in values]


def compact(value: float) -> str:
    """250000 → '250K', 2000000 → '2M', 1500 → '1.5K'."""
    a = abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if a >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}" if a else "0"


class PriceAxis(pg.AxisItem):
    """The price scale: drag up/down to stretch or squeeze the prices, double-click to fit them again."""

    scale_dragged = Signal(float)  # factor for the y range (> 1 squeezes)
    reset_requested = Signal()

    def __init__(self, orientation: str = "right", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.setToolTip("Drag up or down to scale prices; double-click to fit them again")
        self.setCursor(Qt.CursorShape.SizeVerCursor)

    def mouseDragEvent(self, event):  # noqa: N802 (pyqtgraph API)
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        event.accept()
        dy = event.pos().y() - event.lastPos().y()
        if dy:
            self.scale_dragged.emit(math.exp(dy * 0.01))

    def mouseClickEvent(self, event):  # noqa: N802 (pyqtgraph API)
        if event.double() and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self.reset_requested.emit()
        else:
            event.ignore()
