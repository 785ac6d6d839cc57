"""Candle history for the alert engine in stack mode: the live 1m candles in memory, older ones from InfluxDB.

:class:`~backend.signals.alerts.AlertEngine` asks a
:class:`~backend.signals.impact.CandleHistory` for the minutes just before a live candle
(price moves, the last minutes' volume) and for earlier sessions (the volume baseline).
In stack mode the live candles arrive from the ``candles`` topic a moment before the
sink has written them to InfluxDB, so :class:`LiveCandleHistory` answers from the
candles it was given since the live feed started and asks the hot store only for
what is older (earlier sessions, loaded once per session by the engine's cache).
"""

from __future__ import annotations

import bisect
from typing import Iterable, Protocol

from backend.model import MINUTE_MS, Candle, Timeframe

DAY_MS = 24 * 60 * MINUTE_MS


class MinuteStore(Protocol):
    """The hot store's reads used here (:class:`backend.stores.influx.InfluxStore`)."""

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]: ...

    def first_candle_start(self, symbol: str, timeframe: Timeframe) -> int | None: ...


class LiveCandleHistory:
    """Live 1m candles per symbol (complete from the first one seen; ``keep_ms`` behind the newest) over a store.

    Args:
        store: The hot store, for ranges before the live feed started.
        keep_ms: How much live history to keep in memory per symbol.
        before_lookback_ms: How far back the store is searched for "the last candle before".
    """

    def __init__(self, store: MinuteStore, keep_ms: int = 2 * DAY_MS, before_lookback_ms: int = 5 * DAY_MS) -> None:
        self._store = store
        self._keep_ms = keep_ms
        self._lookback_ms = before_lookback_ms
        self._minutes: dict[str, dict[int, Candle]] = {}
        self._starts: dict[str, list[int]] = {}
        self._since: dict[str, int] = {}  # memory is complete from here on
        self._first: dict[str, int | None] = {}

    def add(self, candles: Iterable[Candle]) -> None:
        """Take live candles (1m ones are kept; a repeated start replaces the candle)."""
        touched = set()
        for c in candles:
            if c.timeframe != Timeframe.M1:
                continue
            minutes = self._minutes.setdefault(c.symbol, {})
            self._since.setdefault(c.symbol, c.start_ms)
            if c.start_ms >= self._since[c.symbol]:
                minutes[c.start_ms] = c
                touched.add(c.symbol)
        for symbol in touched:
            minutes = self._minutes[symbol]
            starts = sorted(minutes)
            cutoff = starts[-1] - self._keep_ms
            if starts[0] < cutoff:
                for start in starts[:bisect.bisect_left(starts, cutoff)]:
                    del minutes[start]
                starts = starts[bisect.bisect_left(starts, cutoff):]
                self._since[symbol] = cutoff
            self._starts[symbol] = starts

    def minute_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[Candle]:
        since = self._since.get(symbol)
        if since is None or start_ms < since:
            return self._store.candles(symbol, Timeframe.M1, start_ms, end_ms)
        starts = self._starts[symbol]
        lo, hi = bisect.bisect_left(starts, start_ms), bisect.bisect_left(starts, end_ms)
        return [self._minutes[symbol][s] for s in starts[lo:hi]]

    def minute_candle_before(self, symbol: str, ms: int) -> Candle | None:
        since = self._since.get(symbol)
        if since is not None and ms > since:
            starts = self._starts[symbol]
            i = bisect.bisect_left(starts, ms)
            if i:
                return self._minutes[symbol][starts[i - 1]]
        found = self._store.candles(symbol, Timeframe.M1, ms - self._lookback_ms, ms)
        return found[-1] if found else None

    def first_minute_start(self, symbol: str) -> int | None:
        if symbol not in self._first or self._first[symbol] is None:
            self._first[symbol] = self._store.first_candle_start(symbol, Timeframe.M1)
        stored = self._first[symbol]
        since = self._since.get(symbol)
        return since if stored is None else stored if since is None else min(stored, since)

    def latest_minute_start(self, symbol: str) -> int | None:
        starts = self._starts.get(symbol)
        return starts[-1] if starts else None
