"""Apply bars that arrive behind the aggregator's watermark, against the store.

Nothing is dropped for being late: an ``AM`` bar replaces its stored minute, an ``A``
bar is merged into it (the seconds themselves are no longer in memory, so a late
*correction* of a second counts as an addition — documented, and rare), and every
roll-up bucket above a touched minute is rebuilt from the stored 1m candles.
"""

from __future__ import annotations

from backend.model import MINUTE_MS, ROLLUPS, Bar, Candle, Timeframe
from backend.processing.aggregator import candle_from_values
from backend.stores.sqlite import SqliteStore
from backend.timeutil import DAY_MS, HOUR_MS, ny_day_start


def _values(c: Candle | Bar) -> tuple:
    trades = c.trades if isinstance(c, Candle) else c.trades
    return (c.open, c.high, c.low, c.close, c.volume, c.vwap * c.volume, trades)


def _bucket(tf: Timeframe, minute: int) -> tuple[int, int]:
    if tf is Timeframe.D1:
        start = ny_day_start(minute)
        return start, ny_day_start(start + DAY_MS + 2 * HOUR_MS)
    return minute - minute % tf.ms, minute - minute % tf.ms + tf.ms


def apply_late_bars(store: SqliteStore, bars: list[Bar]) -> list[Candle]:
    """Upsert late bars into stored 1m candles, rebuild their roll-ups; return every changed candle."""
    changed: dict[tuple, Candle] = {}
    for bar in bars:
        minute = bar.start_ms - bar.start_ms % MINUTE_MS
        existing = store.candles(bar.symbol, Timeframe.M1, minute, minute + MINUTE_MS)
        if bar.ev == "AM" or not existing:
            candle = Candle(bar.symbol, Timeframe.M1, minute, bar.open, bar.high, bar.low, bar.close,
                            bar.volume, bar.vwap, bar.trades)
        else:
            candle = candle_from_values(bar.symbol, Timeframe.M1, minute, [_values(existing[0]), _values(bar)])
            if bar.start_ms < minute + (existing[0].start_ms - minute):
                candle = candle._replace(open=bar.open)
        store.upsert_candles([candle])
        changed[candle.key] = candle
        for tf in ROLLUPS:
            start, end = _bucket(tf, minute)
            minutes = store.candles(bar.symbol, Timeframe.M1, start, end)
            rolled = candle_from_values(bar.symbol, tf, start, [_values(m) for m in minutes])
            store.upsert_candles([rolled])
            changed[rolled.key] = rolled
    return list(changed.values())
