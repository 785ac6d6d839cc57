"""Time axis for an index-based x coordinate: labels come from each candle's start time."""

from __future__ import annotations

from datetime import datetime, tzinfo

import pyqtgraph as pg

from app.chart.data import ChartData


class TimeAxis(pg.AxisItem):
    """Bottom axis whose tick values are candle indices, labelled in the chosen time zone."""

    def __init__(self, data: ChartData, tz: tzinfo, **kwargs) -> None:
        super().__init__("bottom", **kwargs)
        self.data = data
        self.tz = tz

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        n = self.data.n
        out, previous_day = [], None
        for v in values:
            i = int(round(v))
            if not 0 <= i < n:
                out.append("")
                continue
            t = datetime.fromtimestamp(self.data.start[i] / 1000, tz=self.tz)
            day = t.date()
            if spacing >= 1 and self._spans_days(spacing):
                out.append(t.strftime("%b %d"))
            elif day != previous_day:
                out.append(t.strftime("%b %d %H:%M"))
            else:
                out.append(t.strftime("%H:%M"))
            previous_day = day
        return out

    def _spans_days(self, spacing: float) -> bool:
        n = self.data.n
        if n < 2:
            return False
        per_candle = (self.data.start[n - 1] - self.data.start[0]) / (n - 1)
        return spacing * per_candle >= 20 * 3_600_000
