"""Bars for days the aggregator no longer holds, applied against the store by the in-memory rules.

The aggregator frees a New York day once its watermark has passed it; a bar for such a
day (a correction re-sent after midnight, a backfill of an older gap) comes back as
``AggregateResult.late`` and is applied here, exactly as memory would have:

* an ``AM`` bar replaces its stored minute, and the minute's stored second bars go (the
  ``AM`` bar settles the minute);
* an ``A`` bar is an upsert by (symbol, second start) against the minute's stored second
  bars, and the minute is their fold; a stored minute without second bars was settled by
  its ``AM`` bar, so the ``A`` bar is ignored;
* every roll-up bucket above a changed minute is rebuilt from the stored 1m candles.

:class:`StoreDayHistory` is the other direction: it hands the aggregator a day's stored
minutes and seconds when it meets that day for the first time (after a restart), so
roll-ups are always the fold of every stored child.
"""

from __future__ import annotations

from backend.model import MINUTE_MS, ROLLUPS, Bar, Candle, Timeframe
from backend.processing.aggregator import StoredDay, bar_values, candle_from_values, minute_from_seconds
from backend.stores.sqlite import SqliteStore
from backend.timeutil import DAY_MS, HOUR_MS, ny_day_start


def candle_values(c: Candle) -> tuple:
    """A stored candle's (o, h, l, c, v, pv, n)."""
    return (c.open, c.high, c.low, c.close, c.volume, c.vwap * c.volume, c.trades)


def _bucket(tf: Timeframe, minute: int) -> tuple[int, int]:
    if tf is Timeframe.D1:
        start = ny_day_start(minute)
        return start, ny_day_start(start + DAY_MS + 2 * HOUR_MS)
    return minute - minute % tf.ms, minute - minute % tf.ms + tf.ms


def apply_late_bars(store: SqliteStore, bars: list[Bar]) -> list[Candle]:
    """Apply bars for freed days to the store (see the module docstring); return every changed candle."""
    changed: dict[tuple, Candle] = {}
    with store.transaction():
        for bar in bars:
            minute = bar.start_ms - bar.start_ms % MINUTE_MS
            if bar.ev == "AM":
                candle = Candle(bar.symbol, Timeframe.M1, minute, bar.open, bar.high, bar.low, bar.close,
                                bar.volume, bar.vwap, bar_values(bar)[6])
                store.delete_seconds([(bar.symbol, minute)])
            else:
                seconds = store.seconds(bar.symbol, minute, minute + MINUTE_MS).get(minute, {})
                if not seconds and store.candles(bar.symbol, Timeframe.M1, minute, minute + MINUTE_MS):
                    continue  # the minute has its AM bar: seconds no longer count
                seconds[bar.start_ms] = bar_values(bar)
                store.upsert_seconds([(bar.symbol, bar.start_ms, *seconds[bar.start_ms])])
                v = minute_from_seconds(seconds)
                candle = Candle(bar.symbol, Timeframe.M1, minute, v[0], v[1], v[2], v[3], v[4], v[7], v[6])
            store.upsert_candles([candle])
            changed[candle.key] = candle
            for tf in ROLLUPS:
                start, end = _bucket(tf, minute)
                minutes = store.candles(bar.symbol, Timeframe.M1, start, end)
                rolled = candle_from_values(bar.symbol, tf, start, [candle_values(m) for m in minutes])
                store.upsert_candles([rolled])
                changed[rolled.key] = rolled
    return list(changed.values())


class StoreDayHistory:
    """The store as the aggregator's :class:`~backend.processing.aggregator.DayHistory` (same thread as the store)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def stored_day(self, symbol: str, day_start: int, day_end: int) -> StoredDay:
        minutes = {c.start_ms: (*candle_values(c), c.vwap)
                   for c in self._store.candles(symbol, Timeframe.M1, day_start, day_end)}
        if not minutes:
            return StoredDay()
        return StoredDay(minutes, self._store.seconds(symbol, day_start, day_end))
