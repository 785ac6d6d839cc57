"""Per-symbol watchlist figures (last, change %, day volume, sparkline), kept as candles stream by."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from backend.model import Candle, Timeframe

SPARK_POINTS = 60


@dataclass(slots=True, frozen=True)
class SymbolSnapshot:
    """What the watchlist shows for one symbol."""

    symbol: str
    last: float
    change_pct: float | None  # vs the previous session's close (or today's open if none)
    day_volume: float
    spark: tuple[float, ...]  # recent 1m closes, oldest first
    updated_ms: int  # start of the newest 1m candle


class _SymbolFigures:
    __slots__ = ("closes", "last_minute", "last", "day_start", "day_open", "day_volume", "day_closes")

    def __init__(self) -> None:
        self.closes: deque[tuple[int, float]] = deque(maxlen=SPARK_POINTS)
        self.last_minute = 0
        self.last = 0.0
        self.day_start = 0
        self.day_open = 0.0
        self.day_volume = 0.0
        self.day_closes: dict[int, float] = {}  # day start → close


class SnapshotBook:
    """Turns changed candles into changed :class:`SymbolSnapshot` s."""

    def __init__(self) -> None:
        self._figures: dict[str, _SymbolFigures] = {}

    def seed(self, symbol: str, minutes: list[Candle], days: list[Candle]) -> None:
        """Start from stored history (recent 1m candles and daily candles)."""
        self._figures.pop(symbol, None)
        self.apply(days + minutes)

    def apply(self, candles: list[Candle]) -> list[SymbolSnapshot]:
        touched: set[str] = set()
        for c in candles:
            if c.timeframe is Timeframe.M1:
                f = self._get(c.symbol)
                if c.start_ms >= f.last_minute:
                    f.last_minute, f.last = c.start_ms, c.close
                if f.closes and c.start_ms <= f.closes[-1][0]:
                    pts = dict(f.closes)
                    pts[c.start_ms] = c.close
                    f.closes = deque(sorted(pts.items())[-SPARK_POINTS:], maxlen=SPARK_POINTS)
                else:
                    f.closes.append((c.start_ms, c.close))
                touched.add(c.symbol)
            elif c.timeframe is Timeframe.D1:
                f = self._get(c.symbol)
                f.day_closes[c.start_ms] = c.close
                if c.start_ms >= f.day_start:
                    f.day_start, f.day_open, f.day_volume = c.start_ms, c.open, c.volume
                touched.add(c.symbol)
        return [self.snapshot(s) for s in touched]

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        f = self._get(symbol)
        previous = [t for t in f.day_closes if t < f.day_start]
        reference = f.day_closes[max(previous)] if previous else f.day_open
        change = (f.last / reference - 1.0) * 100.0 if reference and f.last else None
        return SymbolSnapshot(symbol, f.last, change, f.day_volume, tuple(c for _, c in f.closes), f.last_minute)

    def forget(self, symbol: str) -> None:
        self._figures.pop(symbol, None)

    def _get(self, symbol: str) -> _SymbolFigures:
        f = self._figures.get(symbol)
        if f is None:
            f = self._figures[symbol] = _SymbolFigures()
        return f
