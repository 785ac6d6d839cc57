"""Event-time candle aggregator: bars in, 1m candles and 5m/15m/1h/1d roll-ups out.

This is the oracle for the stack's Flink job. Semantics:

* A 1m candle per (symbol, minute). The latest ``AM`` bar for a minute wins in full;
  a minute with no ``AM`` bar is built from its ``A`` second bars, each (symbol, second)
  an upsert: open of the earliest second, close of the latest, high max, low min,
  volume sum, VWAP volume-weighted, trades summed.
* Roll-ups 5m/15m/1h are epoch-aligned buckets of 1m candles; 1d is the New York
  calendar day. Same merge rules (open of the earliest minute, close of the latest…).
* A repeated (symbol, start) is a correction: an upsert, never a duplicate. A minute
  without trades has no candle.
* Event time with a per-symbol watermark = latest bar end seen − ``allowed_lateness_ms``
  (default 15 min, the window in which Polygon re-sends corrected minute bars).
  Bars at or after the watermark are aggregated in memory in any order; bars older
  than it are returned in :attr:`AggregateResult.late` for the caller to apply against
  the store (nothing is dropped), and memory for days behind the watermark is freed.

Speed: a bar only touches its minute; roll-ups are rebuilt once per batch for the
buckets the batch touched, each level from the one below (5m from ≤5 minutes, 15m
from 3 × 5m, 1h from 4 × 15m, 1d from ≤25 × 1h), so every roll-up is exact — no
running sums to drift under corrections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from backend.model import MINUTE_MS, Bar, Candle, Timeframe
from backend.timeutil import HOUR_MS, ny_day_start

DEFAULT_ALLOWED_LATENESS_MS = 15 * MINUTE_MS
UNBOUNDED = 1 << 62

_M1, _M5, _M15, _H1, _D1 = Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.D1
_M5_MS, _M15_MS = 5 * MINUTE_MS, 15 * MINUTE_MS

# Values of a minute or bucket: (open, high, low, close, volume, price*volume, trades).
_O, _H, _L, _C, _V, _PV, _N = range(7)


def _merge(parts: list[tuple]) -> tuple:
    """Merge time-ordered values into one (open of first, close of last, extremes, sums)."""
    o, h, l, _, v, pv, n = parts[0][:7]
    for p in parts[1:]:
        if p[_H] > h:
            h = p[_H]
        if p[_L] < l:
            l = p[_L]
        v += p[_V]
        pv += p[_PV]
        n += p[_N]
    return (o, h, l, parts[-1][_C], v, pv, n)


class _Symbol:
    """Per-symbol state: minutes and roll-up buckets still inside the lateness horizon.

    ``minutes`` maps a minute start to ``(o, h, l, c, v, pv, n, vwap)``; ``am`` holds the
    minutes that an ``AM`` bar has settled; ``seconds`` the ``A`` bars of the others.
    """

    __slots__ = ("minutes", "am", "seconds", "m5", "m15", "h1", "max_end", "evicted_before")

    def __init__(self) -> None:
        self.minutes: dict[int, tuple] = {}
        self.am: set[int] = set()
        self.seconds: dict[int, dict[int, tuple]] = {}
        self.m5: dict[int, tuple] = {}
        self.m15: dict[int, tuple] = {}
        self.h1: dict[int, tuple] = {}
        self.max_end = 0
        self.evicted_before = 0


@dataclass(slots=True)
class AggregateResult:
    """Changed candles (latest state, one per key) and bars too late for memory."""

    candles: list[Candle] = field(default_factory=list)
    late: list[Bar] = field(default_factory=list)


class CandleAggregator:
    """Incremental, event-time candle aggregator (see the module docstring for semantics)."""

    def __init__(self, allowed_lateness_ms: int | None = DEFAULT_ALLOWED_LATENESS_MS) -> None:
        """``allowed_lateness_ms=None`` keeps everything in memory: no bar is ever late."""
        if allowed_lateness_ms is not None and allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0")
        self.allowed_lateness_ms = UNBOUNDED if allowed_lateness_ms is None else allowed_lateness_ms
        self._symbols: dict[str, _Symbol] = {}

    def watermark(self, symbol: str) -> int:
        """Event time (ms) before which bars of ``symbol`` count as late; 0 before any bar."""
        st = self._symbols.get(symbol)
        return max(0, st.max_end - self.allowed_lateness_ms) if st and st.max_end else 0

    def add(self, bars: Iterable[Bar], force: bool = False) -> AggregateResult:
        """Apply bars in arrival order; return the candles they changed and the late bars.

        ``force`` returns the candles of every minute the bars touch, changed or not: for a caller
        re-applying a batch whose results it lost (the values are the same; the upsert repeats).
        """
        result = AggregateResult()
        late = result.late
        dirty: dict[str, set[int]] = {}
        symbols = self._symbols
        lateness = self.allowed_lateness_ms
        st = None
        sym = None
        for bar in bars:
            if bar.symbol != sym:
                sym = bar.symbol
                st = symbols.get(sym)
                if st is None:
                    st = symbols[sym] = _Symbol()
                touched = dirty.get(sym)
                if touched is None:
                    touched = dirty[sym] = set()
            start = bar.start_ms
            if start < st.max_end - lateness or start < st.evicted_before:
                late.append(bar)
                continue
            if bar.end_ms > st.max_end:
                st.max_end = bar.end_ms
            minute = start - start % MINUTE_MS
            z = bar.avg_trade_size
            v = bar.volume
            if bar.ev == "AM":
                new = (bar.open, bar.high, bar.low, bar.close, v, bar.vwap * v,
                       (round(v / z) or 1) if z > 0 else 0, bar.vwap)
                st.am.add(minute)
            elif minute in st.am:
                continue  # the minute bar is authoritative once it has arrived
            else:
                second = (bar.open, bar.high, bar.low, bar.close, v, bar.vwap * v,
                          (round(v / z) or 1) if z > 0 else 0)
                seconds = st.seconds.get(minute)
                if seconds is None:
                    seconds = st.seconds[minute] = {}
                seconds[start] = second
                merged = _merge([seconds[k] for k in sorted(seconds)])
                new = merged + (merged[_PV] / merged[_V] if merged[_V] else merged[_C],)
            if force or st.minutes.get(minute) != new:
                st.minutes[minute] = new
                touched.add(minute)
        out = result.candles
        for sym, minutes in dirty.items():
            if minutes:
                st = symbols[sym]
                self._rebuild(sym, st, minutes, out)
                self._evict(st)
        return result

    @staticmethod
    def _rebuild(sym: str, st: _Symbol, minutes: set[int], out: list[Candle]) -> None:
        """Emit the changed minutes and rebuild every roll-up bucket above them."""
        mins = st.minutes
        append = out.append
        make = Candle._make
        for minute in sorted(minutes):
            v = mins[minute]
            append(make((sym, _M1, minute, v[0], v[1], v[2], v[3], v[4], v[7], v[6])))
        levels = (
            (_M5, st.m5, mins, _M5_MS, MINUTE_MS),
            (_M15, st.m15, st.m5, _M15_MS, _M5_MS),
            (_H1, st.h1, st.m15, HOUR_MS, _M15_MS),
        )
        starts = minutes
        for tf, store, children, length, step in levels:
            starts = {t - t % length for t in starts}
            for start in sorted(starts):
                parts = [c for c in map(children.get, range(start, start + length, step)) if c is not None]
                v = store[start] = _merge(parts)
                append(make((sym, tf, start, v[0], v[1], v[2], v[3], v[4], v[5] / v[4] if v[4] else v[3], v[6])))
        h1 = st.h1
        for start in {ny_day_start(t) for t in starts}:
            parts = [c for c in map(h1.get, _hours_of_day(start)) if c is not None]
            v = _merge(parts)
            append(make((sym, _D1, start, v[0], v[1], v[2], v[3], v[4], v[5] / v[4] if v[4] else v[3], v[6])))

    def _evict(self, st: _Symbol) -> None:
        """Free days entirely behind the watermark (their candles can no longer change in memory)."""
        if self.allowed_lateness_ms == UNBOUNDED:
            return
        cutoff = ny_day_start(st.max_end - self.allowed_lateness_ms)
        if cutoff <= st.evicted_before:
            return
        st.evicted_before = cutoff
        st.minutes = {k: v for k, v in st.minutes.items() if k >= cutoff}
        st.am = {k for k in st.am if k >= cutoff}
        st.seconds = {k: v for k, v in st.seconds.items() if k >= cutoff}
        st.m5 = {k: v for k, v in st.m5.items() if k >= cutoff}
        st.m15 = {k: v for k, v in st.m15.items() if k >= cutoff}
        st.h1 = {k: v for k, v in st.h1.items() if k >= cutoff}


@lru_cache(maxsize=4096)
def _hours_of_day(day_start: int) -> tuple[int, ...]:
    """Hour starts of a New York day (23, 24 or 25 of them around DST changes)."""
    hours, t = [], day_start
    while ny_day_start(t) == day_start:
        hours.append(t)
        t += HOUR_MS
    return tuple(hours)


def candle_from_values(symbol: str, tf: Timeframe, start: int, parts: list[tuple]) -> Candle:
    """Merge time-ordered (o, h, l, c, v, pv, n) values into a candle (used by late-bar repair)."""
    v = _merge(parts)
    vwap = v[_PV] / v[_V] if v[_V] else v[_C]
    return Candle(symbol, tf, start, v[0], v[1], v[2], v[3], v[4], vwap, v[6])


def aggregate(bars: Iterable[Bar]) -> dict[tuple[str, Timeframe, int], Candle]:
    """Final candles keyed by (symbol, timeframe, start_ms) after applying all ``bars`` in order.

    Uses unbounded lateness, so the result depends only on the input and its order —
    what the pipeline converges to (late bars go through the store) and what the Flink
    job must produce.
    """
    return {c.key: c for c in CandleAggregator(allowed_lateness_ms=None).add(bars).candles}
