"""Event-time candle aggregator: bars in, 1m candles and 5m/15m/1h/1d roll-ups out.

This is the oracle for the stack's Flink job. Semantics:

* A 1m candle per (symbol, minute). The latest ``AM`` bar for a minute wins in full;
  a minute with no ``AM`` bar is built from its ``A`` second bars, each (symbol, second)
  an upsert: open of the earliest second, close of the latest, high max, low min,
  volume sum, VWAP volume-weighted, trades summed. Once a minute has its ``AM`` bar,
  its second bars are ignored.
* Roll-ups 5m/15m/1h are epoch-aligned buckets of 1m candles; 1d is the New York
  calendar day. Same merge rules (open of the earliest minute, close of the latest…).
  Every roll-up is the fold of *all* its children — also those stored before a restart:
  with a :class:`DayHistory`, the first bar of a (symbol, New York day) that memory does
  not hold loads that day's stored minutes (and the second bars of minutes built from
  seconds) before anything is rolled up.
* A repeated (symbol, start) is a correction: an upsert, never a duplicate. A minute
  without trades has no candle.
* Event time with a per-symbol watermark = latest bar end seen − ``allowed_lateness_ms``
  (default 15 min, the window in which Polygon re-sends corrected minute bars). Memory
  holds the New York day of the watermark (and any later one): days entirely behind it
  are freed. A bar for a day memory holds is merged there by the rules above, however
  late; a bar for a freed day is returned in :attr:`AggregateResult.late` for the caller to
  apply against the store by the same rules (:mod:`backend.processing.late`). Nothing is
  dropped silently: a second bar more than ``seconds_horizon_ms`` behind the watermark is
  rejected with its reason (its minute's other seconds are no longer kept, so it could only
  be merged wrongly), as the Flink job dead-letters it.

Speed: a bar only touches its minute; roll-ups are rebuilt once per batch for the
buckets the batch touched, each level from the one below (5m from ≤5 minutes, 15m
from 3 × 5m, 1h from 4 × 15m, 1d from ≤25 × 1h), so every roll-up is exact — no
running sums to drift under corrections. The four functions under "the core" below
(grouping by symbol, the per-bar fold, the roll-up rebuild, freeing days) are also
compiled, in ``_aggcore.c``, which ``pip install`` builds: it does the same on the same
state, about three times as fast, and these functions are its specification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace
from typing import Iterable, Protocol

from backend.model import MINUTE_MS, Bar, Candle, Timeframe
from backend.timeutil import DAY_MS, HOUR_MS, ny_day_start

DEFAULT_ALLOWED_LATENESS_MS = 15 * MINUTE_MS
#: How far behind the watermark a minute's second bars are kept (a later second for it is rejected).
DEFAULT_SECONDS_HORIZON_MS = 60 * MINUTE_MS
UNBOUNDED = 1 << 62

_M1, _M5, _M15, _H1, _D1 = Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.D1
_M5_MS, _M15_MS = 5 * MINUTE_MS, 15 * MINUTE_MS

# Values of a minute or bucket: (open, high, low, close, volume, price*volume, trades); a minute adds its vwap.
_O, _H, _L, _C, _V, _PV, _N = range(7)


def merge_values(parts: list[tuple]) -> tuple:
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


def bar_values(bar: Bar) -> tuple:
    """A bar's (o, h, l, c, v, pv, n); trades derived as ``round(v / z)`` (the feed sends an average trade size)."""
    v, z = bar.volume, bar.avg_trade_size
    return (bar.open, bar.high, bar.low, bar.close, v, bar.vwap * v, (round(v / z) or 1) if z > 0 else 0)


def minute_from_seconds(seconds: dict[int, tuple]) -> tuple:
    """A minute's values (with its vwap) from its second bars keyed by second start."""
    merged = merge_values([seconds[k] for k in sorted(seconds)])
    return merged + (merged[_PV] / merged[_V] if merged[_V] else merged[_C],)


@dataclass(slots=True)
class StoredDay:
    """A (symbol, New York day)'s stored children: minutes ``(o, h, l, c, v, pv, n, vwap)`` by start, and the
    second bars of the minutes built from seconds (a minute without any was settled by its ``AM`` bar)."""

    minutes: dict[int, tuple] = field(default_factory=dict)
    seconds: dict[int, dict[int, tuple]] = field(default_factory=dict)


class DayHistory(Protocol):
    """Where an aggregator finds a day's stored children after a restart (the embedded store)."""

    def stored_day(self, symbol: str, day_start: int, day_end: int) -> StoredDay:
        """The symbol's stored minutes (and their seconds) in ``[day_start, day_end)``."""


class _Symbol:
    """Per-symbol state: minutes and roll-up buckets of the New York days held in memory.

    ``minutes`` maps a minute start to ``(o, h, l, c, v, pv, n, vwap)``; ``am`` holds the
    minutes that an ``AM`` bar has settled; ``seconds`` the ``A`` bars of the others.
    ``days`` are the day starts held (loaded from the store, or begun here); ``day_lo``/``day_hi``
    bound the day entered last, so an in-order bar needs no day lookup.
    """

    __slots__ = ("minutes", "am", "seconds", "m5", "m15", "h1", "max_end", "evicted_before", "days", "day_lo",
                 "day_hi")

    def __init__(self) -> None:
        self.minutes: dict[int, tuple] = {}
        self.am: set[int] = set()
        self.seconds: dict[int, dict[int, tuple]] = {}
        self.m5: dict[int, tuple] = {}
        self.m15: dict[int, tuple] = {}
        self.h1: dict[int, tuple] = {}
        self.max_end = 0
        self.evicted_before = 0
        self.days: set[int] = set()
        self.day_lo = self.day_hi = 0


@dataclass(slots=True)
class AggregateResult:
    """What one :meth:`CandleAggregator.add` changed.

    Attributes:
        candles: Changed candles (latest state, one per key).
        late: Bars behind the watermark, for the store (:func:`backend.processing.late.apply_late_bars`).
        rejected: Reasons for bars that cannot be merged (a second bar beyond the seconds horizon).
        seconds: ``(symbol, second start, values)`` of second bars now part of a minute (to store).
        settled: ``(symbol, minute)`` whose ``AM`` bar replaced second bars held for it (stored ones go).
    """

    candles: list[Candle] = field(default_factory=list)
    late: list[Bar] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    seconds: list[tuple[str, int, tuple]] = field(default_factory=list)
    settled: list[tuple[str, int]] = field(default_factory=list)


class CandleAggregator:
    """Incremental, event-time candle aggregator (see the module docstring for semantics)."""

    def __init__(self, allowed_lateness_ms: int | None = DEFAULT_ALLOWED_LATENESS_MS,
                 history: DayHistory | None = None,
                 seconds_horizon_ms: int = DEFAULT_SECONDS_HORIZON_MS, native: bool = True) -> None:
        """``allowed_lateness_ms=None`` keeps everything in memory: no bar is ever late.

        ``history`` makes roll-ups include what a previous run stored (see the module docstring).
        ``native=False`` runs the Python specification even where the compiled core is built.
        """
        if allowed_lateness_ms is not None and allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0")
        self.allowed_lateness_ms = UNBOUNDED if allowed_lateness_ms is None else allowed_lateness_ms
        self.seconds_horizon_ms = seconds_horizon_ms
        self._history = history
        self._symbols: dict[str, _Symbol] = {}
        self._core = _aggcore if native and _aggcore is not None else PYTHON_CORE

    @property
    def native(self) -> bool:
        """Whether the compiled core (``_aggcore``) does the per-bar work, the roll-ups and the eviction."""
        return self._core is not PYTHON_CORE

    def watermark(self, symbol: str) -> int:
        """Event time (ms) before which bars of ``symbol`` count as late; 0 before any bar."""
        st = self._symbols.get(symbol)
        return max(0, st.max_end - self.allowed_lateness_ms) if st and st.max_end else 0

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop what memory holds for ``symbols`` (e.g. after results could not be stored): their next bar
        reloads the day from the store, so nothing unstored ever reaches a roll-up."""
        for symbol in symbols:
            self._symbols.pop(symbol, None)

    def add(self, bars: Iterable[Bar], force: bool = False) -> AggregateResult:
        """Apply bars in arrival order; return the candles they changed and the late bars.

        ``force`` returns the candles of every minute the bars touch, changed or not: for a caller
        re-applying a batch whose results it lost (the values are the same; the upsert repeats).
        """
        result = AggregateResult()
        symbols = self._symbols
        behind = self.allowed_lateness_ms + self.seconds_horizon_ms  # a second bar this far behind is rejected
        dirty: dict[str, set[int]] = {}
        # Symbol by symbol (each in arrival order: symbols do not interact), so a symbol's state sits in
        # local variables for its whole run of bars instead of being looked up again at every bar.
        core = self._core
        for sym, sym_bars in core.by_symbol(bars).items():
            st = symbols.get(sym)
            if st is None:
                st = symbols[sym] = _Symbol()
            dirty[sym] = core.fold_bars(self, st, sym, sym_bars, force, result, behind)
        out = result.candles
        for sym, changed_minutes in dirty.items():
            if changed_minutes:
                st = symbols[sym]
                core.rebuild_rollups(sym, st, changed_minutes, out)
                self._evict(st)
        return result

    def _rejection(self, bar: Bar) -> str:
        return (f"{bar.symbol}: second bar at {bar.start_ms} is more than {self.seconds_horizon_ms // MINUTE_MS} "
                "minutes behind the watermark; its minute's other seconds are no longer kept, so it is not merged")

    def _enter_day(self, sym: str, st: _Symbol, minute: int) -> None:
        """Make ``minute``'s New York day the current one; load it from the store the first time."""
        day = ny_day_start(minute)
        st.day_lo, st.day_hi = day, ny_day_start(day + DAY_MS + 2 * HOUR_MS)
        if day in st.days:
            return
        st.days.add(day)
        if self._history is None:
            return
        stored = self._history.stored_day(sym, day, st.day_hi)
        if not stored.minutes:
            return
        for start, values in stored.minutes.items():
            st.minutes.setdefault(start, values)
            seconds = stored.seconds.get(start)
            if seconds:
                st.seconds.setdefault(start, dict(seconds))
            else:
                st.am.add(start)
        self._core.rebuild_rollups(sym, st, set(stored.minutes), [])  # roll-ups of what is stored: nothing changed

    def _evict(self, st: _Symbol) -> None:
        """Free days entirely behind the watermark (their candles can no longer change in memory)."""
        if self.allowed_lateness_ms == UNBOUNDED:
            return
        cutoff = ny_day_start(st.max_end - self.allowed_lateness_ms)
        if cutoff <= st.evicted_before:
            return
        st.evicted_before = cutoff
        self._core.drop_before(st, cutoff)


# -- the core: what the compiled _aggcore does the same way (this Python is its specification) --------------

def _fold_bars(agg: "CandleAggregator", st: _Symbol, sym: str, bars: list[Bar], force: bool,
               result: AggregateResult, behind: int) -> set[int]:
    """Merge one symbol's bars (in arrival order) into its minutes; return the minutes that changed."""
    touched: set[int] = set()
    minutes, am, seconds_of = st.minutes, st.am, st.seconds
    evicted_before, max_end = st.evicted_before, st.max_end
    for bar in bars:
        # one unpacking instead of a field lookup each (a named tuple's fields are descriptors)
        ev, _, start, end, o, h, l, c, v, vwap, _, _, _, z, _ = bar
        if start < evicted_before or start < max_end - behind:  # rare: far behind
            if ev != "AM" and start < max_end - behind:
                result.rejected.append(agg._rejection(bar))
                continue
            if start < evicted_before:
                result.late.append(bar)
                continue
            # else an AM bar far behind, for a day memory still holds: merged below like any other
        if end > max_end:
            st.max_end = max_end = end
        minute = start - start % MINUTE_MS
        if not st.day_lo <= minute < st.day_hi:
            agg._enter_day(sym, st, minute)
        if ev == "AM":
            new = (o, h, l, c, v, vwap * v, (round(v / z) or 1) if z > 0 else 0, vwap)
            am.add(minute)
            if (seconds_of and seconds_of.pop(minute, None) is not None) or force:
                result.settled.append((sym, minute))
        elif minute in am:
            continue  # the minute bar is authoritative once it has arrived
        else:
            second = bar_values(bar)
            seconds = seconds_of.get(minute)
            if seconds is None:
                seconds = seconds_of[minute] = {}
            if not force and seconds.get(start) == second:
                continue
            seconds[start] = second
            result.seconds.append((sym, start, second))
            new = minute_from_seconds(seconds)
        if force or minutes.get(minute) != new:
            minutes[minute] = new
            touched.add(minute)
    return touched


def _rebuild_rollups(sym: str, st: _Symbol, minutes: set[int], out: list[Candle]) -> None:
    """Rebuild every roll-up bucket above ``minutes``; append them and the minutes to ``out``."""
    mins = st.minutes
    append = out.append
    make_candle = tuple.__new__  # Candle._make without its Python frame and length check (the tuples below have 10)
    for minute in sorted(minutes):
        v = mins[minute]
        append(make_candle(Candle, (sym, _M1, minute, v[0], v[1], v[2], v[3], v[4], v[7], v[6])))
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
            v = store[start] = merge_values(parts)
            vwap = v[5] / v[4] if v[4] else v[3]
            append(make_candle(Candle, (sym, tf, start, v[0], v[1], v[2], v[3], v[4], vwap, v[6])))
    h1 = st.h1
    for start in sorted({ny_day_start(t) for t in starts}):
        parts = [c for c in map(h1.get, _hours_of_day(start)) if c is not None]
        v = merge_values(parts)
        vwap = v[5] / v[4] if v[4] else v[3]
        append(make_candle(Candle, (sym, _D1, start, v[0], v[1], v[2], v[3], v[4], vwap, v[6])))


def _drop_before(st: _Symbol, cutoff: int) -> None:
    """Free what a symbol holds of the days before ``cutoff``."""
    st.minutes = {k: v for k, v in st.minutes.items() if k >= cutoff}
    st.am = {k for k in st.am if k >= cutoff}
    st.seconds = {k: v for k, v in st.seconds.items() if k >= cutoff}
    st.m5 = {k: v for k, v in st.m5.items() if k >= cutoff}
    st.m15 = {k: v for k, v in st.m15.items() if k >= cutoff}
    st.h1 = {k: v for k, v in st.h1.items() if k >= cutoff}
    st.days = {d for d in st.days if d >= cutoff}


def _by_symbol(bars: Iterable[Bar]) -> dict[str, list[Bar]]:
    """Bars grouped by symbol, each group in arrival order."""
    groups: dict[str, list[Bar]] = {}
    for bar in bars:
        group = groups.get(bar[1])  # bar.symbol
        if group is None:
            groups[bar[1]] = [bar]
        else:
            group.append(bar)
    return groups


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
    v = merge_values(parts)
    vwap = v[_PV] / v[_V] if v[_V] else v[_C]
    return Candle(symbol, tf, start, v[0], v[1], v[2], v[3], v[4], vwap, v[6])


#: The Python core, the compiled one's specification (tests/backend/processing/test_aggcore_parity.py).
PYTHON_CORE = SimpleNamespace(by_symbol=_by_symbol, fold_bars=_fold_bars, rebuild_rollups=_rebuild_rollups,
                              drop_before=_drop_before)


def aggregate(bars: Iterable[Bar]) -> dict[tuple[str, Timeframe, int], Candle]:
    """Final candles keyed by (symbol, timeframe, start_ms) after applying all ``bars`` in order.

    Uses unbounded lateness, so the result depends only on the input and its order —
    what the pipeline converges to (late bars go through the store with the same rules)
    and what the Flink job must produce.
    """
    return {c.key: c for c in CandleAggregator(allowed_lateness_ms=None).add(bars).candles}


try:  # the compiled core, built by ``pip install`` (pyproject.toml); without a C compiler the Python above runs
    from backend.processing import _aggcore
except ImportError:
    _aggcore = None
else:
    _aggcore.configure(Candle, (_M1, _M5, _M15, _H1, _D1), ny_day_start, _hours_of_day)
