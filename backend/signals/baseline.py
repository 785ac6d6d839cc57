"""Time-of-day volume baselines: how much a symbol usually trades N minutes after the open.

Volume has a strong intraday shape (heavy at the open and close, light at lunch), so a
window's volume is compared with the *same minutes after the open* in earlier
sessions, never with the minutes just before it. Definition (one for the whole app —
news impact and the volume alert use it):

    The baseline of a window ``[open + offset, open + offset + N min)`` is that window's
    volume in each of the previous ``wanted`` (default 10) regular sessions that have at
    least one 1m candle within :data:`BASELINE_SPAN_MS` (60 min) of the same offset;
    sessions are looked for up to :data:`BASELINE_LOOKBACK_DAYS` trading days back. The
    z-score is ``(volume − mean) / sample stdev``; it needs
    :data:`MIN_BASELINE_SESSIONS` sessions and a non-zero spread.

A :class:`SessionVolume` is one session's per-minute volume; :func:`sessions_from_candles`
builds them from candles (the pure path, for :func:`~backend.signals.impact.compute_impact`
and a stream processor), :class:`SessionVolumeCache` loads them from the store once
per (symbol, session) (the incremental path).
"""

from __future__ import annotations

import bisect
import statistics
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterable, Iterator, Sequence

from backend.model import MINUTE_MS, Candle, Timeframe
from backend.timeutil import is_trading_day, ny_date, session_bounds

BASELINE_SESSIONS = 10
MIN_BASELINE_SESSIONS = 3
#: A previous session counts if it has a candle within this span from the offset.
BASELINE_SPAN_MS = 60 * MINUTE_MS
#: How far back to look for sessions with data (trading days).
BASELINE_LOOKBACK_DAYS = 3 * BASELINE_SESSIONS + 10
BASELINE_DESCRIPTION = (
    "volume of the same minutes after the 09:30 open in the previous "
    f"{BASELINE_SESSIONS} sessions with data (at least {MIN_BASELINE_SESSIONS})"
)


@dataclass(frozen=True, slots=True)
class SessionVolume:
    """One regular session's 1m volume by minute after the open; ``present`` marks minutes with a candle."""

    open_ms: int
    volumes: tuple[float, ...]
    present: tuple[bool, ...]

    @classmethod
    def from_candles(cls, open_ms: int, close_ms: int, candles: Iterable[Candle]) -> "SessionVolume":
        """Build from the session's 1m candles (others are ignored)."""
        size = (close_ms - open_ms) // MINUTE_MS
        volumes, present = [0.0] * size, [False] * size
        for c in candles:
            i = (c.start_ms - open_ms) // MINUTE_MS
            if c.timeframe == Timeframe.M1 and 0 <= i < size:
                volumes[i], present[i] = c.volume, True
        return cls(open_ms, tuple(volumes), tuple(present))

    def has_data(self, offset_ms: int, span_ms: int = BASELINE_SPAN_MS) -> bool:
        """Whether any minute in ``[offset, offset + span)`` after the open has a candle."""
        lo = offset_ms // MINUTE_MS
        return any(self.present[lo:lo + span_ms // MINUTE_MS])

    def volume(self, offset_ms: int, minutes: int) -> float:
        """Shares traded in ``minutes`` minutes from ``offset_ms`` after the open."""
        lo = offset_ms // MINUTE_MS
        return sum(self.volumes[lo:lo + minutes])


def previous_sessions(open_ms: int) -> Iterator[tuple[int, int]]:
    """``(open_ms, close_ms)`` of the regular sessions before the one opening at ``open_ms``, newest first."""
    day: date = ny_date(open_ms)
    for _ in range(BASELINE_LOOKBACK_DAYS):
        day -= timedelta(days=1)
        while not is_trading_day(day):
            day -= timedelta(days=1)
        yield session_bounds(day)


def baseline_volumes(sessions: Iterable[SessionVolume], offset_ms: int, windows: Sequence[int],
                     wanted: int = BASELINE_SESSIONS) -> dict[int, list[float]]:
    """Per window length (minutes), its volume in each of the first ``wanted`` sessions with data at ``offset_ms``.

    Args:
        sessions: Earlier sessions, newest first (:func:`sessions_from_candles` or the cache).
        offset_ms: The window's start after the open.
        windows: Window lengths in minutes.
        wanted: How many sessions with data to use.
    """
    volumes: dict[int, list[float]] = {n: [] for n in windows}
    found = 0
    for s in sessions:
        if found >= wanted:
            break
        if s.has_data(offset_ms):
            found += 1
            for n in windows:
                volumes[n].append(s.volume(offset_ms, n))
    return volumes


def volume_zscore(volume: float, baseline: Sequence[float]) -> float | None:
    """``(volume − mean) / sample stdev`` of the baseline; None with fewer than 2 values or no spread."""
    if len(baseline) < 2:
        return None
    spread = statistics.stdev(baseline)
    return (volume - statistics.fmean(baseline)) / spread if spread > 0 else None


def sessions_from_candles(candles: Sequence[Candle], open_ms: int) -> Iterator[SessionVolume]:
    """The sessions before ``open_ms`` built from ``candles`` (sorted by start, one symbol), newest first."""
    if not candles:
        return
    earliest = candles[0].start_ms
    starts = [c.start_ms for c in candles]
    for day_open, day_close in previous_sessions(open_ms):
        if day_close <= earliest:
            return
        lo, hi = bisect.bisect_left(starts, day_open), bisect.bisect_left(starts, day_close)
        yield SessionVolume.from_candles(day_open, day_close, candles[lo:hi])


class SessionVolumeCache:
    """Earlier sessions' :class:`SessionVolume` s loaded from stored candles, once per (symbol, session).

    Args:
        load: ``load(symbol, start_ms, end_ms)`` → the symbol's 1m candles in the range.
        first_start: ``first_start(symbol)`` → start of its earliest stored 1m candle, or None.
        capacity: Sessions kept (least recently used go first).
    """

    def __init__(self, load: Callable[[str, int, int], list[Candle]],
                 first_start: Callable[[str], int | None], capacity: int = 4096) -> None:
        self._load = load
        self._first_start = first_start
        self._capacity = capacity
        self._sessions: OrderedDict[tuple[str, int], SessionVolume] = OrderedDict()

    def sessions_before(self, symbol: str, open_ms: int) -> Iterator[SessionVolume]:
        """Sessions before the one opening at ``open_ms``, newest first, back to the symbol's first candle."""
        first = self._first_start(symbol)
        if first is None:
            return
        for day_open, day_close in previous_sessions(open_ms):
            if day_close <= first:
                return
            key = (symbol, day_open)
            session = self._sessions.get(key)
            if session is None:
                session = SessionVolume.from_candles(day_open, day_close, self._load(symbol, day_open, day_close))
                self._sessions[key] = session
                if len(self._sessions) > self._capacity:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            yield session

    def invalidate(self, symbol: str, start_ms: int) -> None:
        """Forget the cached session containing ``start_ms`` (a candle in it changed)."""
        day_open, _ = session_bounds(ny_date(start_ms))
        self._sessions.pop((symbol, day_open), None)
