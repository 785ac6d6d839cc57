"""Growable numpy columns of one symbol/timeframe's candles, indexed by ordinal position.

The chart's x coordinate is the candle's *index*, not its time, so closed-market hours
take no space. Appending, replacing the live candle and correcting an older candle are
O(1) (amortised) and report exactly which indices changed.
"""

from __future__ import annotations

import numpy as np

from app.chart.extent import BlockExtent
from backend.model import Candle
from backend.pipeline import CandleSeries

_FIELDS = ("open", "high", "low", "close", "volume", "vwap")
class ChartData:
    """Candles as columns with spare capacity; ``n`` is the number in use."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.start = np.zeros(capacity, dtype=np.int64)
        self.open = np.zeros(capacity)
        self.high = np.zeros(capacity)
        self.low = np.zeros(capacity)
        self.close = np.zeros(capacity)
        self.volume = np.zeros(capacity)
        self.vwap = np.zeros(capacity)  # the candle's own VWAP
        self.session_vwap = np.zeros(capacity)  # cumulative VWAP since the session (New York day) began
        self._pv = np.zeros(capacity)  # running Σ vwap·volume and Σ volume within the session
        self._vol = np.zeros(capacity)
        self.day = np.zeros(capacity, dtype=np.int64)  # New York day start of each candle
        self._extents = {name: BlockExtent() for name in ("low", "high", "session_vwap", "volume")}

    @classmethod
    def from_series(cls, series: CandleSeries, day_starts: np.ndarray) -> "ChartData":
        n = len(series)
        data = cls(max(1024, int(n * 1.5)))
        data.n = n
        data.start[:n] = series.start
        for name in _FIELDS:
            getattr(data, name)[:n] = getattr(series, name)
        data.day[:n] = day_starts
        data._recompute_session_vwap(0)
        data._update_extents(0)
        return data

    def upsert(self, candle: Candle, day_start: int) -> tuple[str, int]:
        """Apply a candle; return ``("append"|"live"|"correct"|"insert", index)``."""
        n = self.n
        if n and candle.start_ms == self.start[n - 1]:
            kind, i = "live", n - 1
        elif n == 0 or candle.start_ms > self.start[n - 1]:
            if n == len(self.start):
                self._grow()
            kind, i = "append", n
            self.n += 1
        else:
            i = int(np.searchsorted(self.start[:n], candle.start_ms))
            if self.start[i] == candle.start_ms:
                kind = "correct"
            else:
                if n == len(self.start):
                    self._grow()
                kind = "insert"
                for col in self._columns():
                    col[i + 1:n + 1] = col[i:n]
                self.n += 1
        self.start[i] = candle.start_ms
        self.open[i], self.high[i], self.low[i], self.close[i] = candle.open, candle.high, candle.low, candle.close
        self.volume[i], self.vwap[i], self.day[i] = candle.volume, candle.vwap, day_start
        if kind in ("append", "live") and i == self.n - 1:
            self._session_vwap_last()
            self._update_extents(i)
        else:
            session = int(np.searchsorted(self.day[:self.n], day_start))
            self._recompute_session_vwap(session)
            self._update_extents(min(i, session))
        return kind, i

    def _update_extents(self, frm: int) -> None:
        for name, ext in self._extents.items():
            ext.update(getattr(self, name), self.n, frm)

    def price_extent(self, i0: int, i1: int) -> tuple[float, float]:
        """(lowest low or session VWAP, highest high or session VWAP) over candles ``[i0, i1)``."""
        lo, _ = self._extents["low"].extent(self.low, i0, i1)
        _, hi = self._extents["high"].extent(self.high, i0, i1)
        vlo, vhi = self._extents["session_vwap"].extent(self.session_vwap, i0, i1)
        return min(lo, vlo), max(hi, vhi)

    def max_volume(self, i0: int, i1: int) -> float:
        return self._extents["volume"].extent(self.volume, i0, i1)[1]

    def _session_vwap_last(self) -> None:
        """The last candle's session VWAP from the running sums at the one before (O(1) per tick)."""
        i = self.n - 1
        pv, vol = float(self.vwap[i] * self.volume[i]), float(self.volume[i])
        if i > 0 and self.day[i - 1] == self.day[i]:
            pv += float(self._pv[i - 1])
            vol += float(self._vol[i - 1])
        self._pv[i], self._vol[i] = pv, vol
        self.session_vwap[i] = pv / vol if vol > 0 else self.close[i]

    def _recompute_session_vwap(self, frm: int) -> None:
        """Session VWAP from index ``frm`` on (incremental for the live edge)."""
        n = self.n
        if frm >= n:
            return
        # Restart the running sums at the first candle of frm's session.
        day = self.day[frm]
        lo = int(np.searchsorted(self.day[:n], day))
        pv = np.cumsum(self.vwap[lo:n] * self.volume[lo:n])
        vol = np.cumsum(self.volume[lo:n])
        # Restart the sums at each later session boundary: subtract the total before it.
        boundaries = np.flatnonzero(np.diff(self.day[lo:n])) + 1
        if len(boundaries):
            segment = np.zeros(n - lo, dtype=np.int64)
            segment[boundaries] = 1
            segment = np.cumsum(segment)
            pv -= np.concatenate(([0.0], pv[boundaries - 1]))[segment]
            vol -= np.concatenate(([0.0], vol[boundaries - 1]))[segment]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(vol > 0, pv / np.where(vol > 0, vol, 1), self.close[lo:n])
        self.session_vwap[lo:n] = out
        self._pv[lo:n], self._vol[lo:n] = pv, vol

    def index_at(self, t_ms: int) -> float | None:
        """x of a time: the index of the candle containing it, +0.5 when it falls in a gap after it."""
        n = self.n
        if n == 0 or t_ms < self.start[0]:
            return None
        i = int(np.searchsorted(self.start[:n], t_ms, side="right")) - 1
        return float(i)

    def _columns(self):
        return (self.start, self.open, self.high, self.low, self.close, self.volume, self.vwap,
                self.session_vwap, self.day, self._pv, self._vol)

    def _grow(self) -> None:
        size = len(self.start) * 2
        for name in ("start", *_FIELDS, "session_vwap", "day", "_pv", "_vol"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
