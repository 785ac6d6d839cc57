"""What a pipeline tells its listeners and answers to history queries: the app's data contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from backend.model import Article, Candle, NewsImpact, Timeframe
from backend.processing.snapshots import SymbolSnapshot
from backend.signals.alerts import Alert
from backend.sources.base import SourceStatus

#: Candles a history load returns at most (the chart's level of detail handles a million).
HISTORY_LIMIT = 200_000


@dataclass(slots=True)
class PipelineUpdate:
    """What changed in one processed batch (or a periodic status tick)."""

    candles: list[Candle] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    snapshots: list[SymbolSnapshot] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    impacts: list[NewsImpact] = field(default_factory=list)  # changed news impacts (replace by .key)
    alerts: list[Alert] = field(default_factory=list)  # new alerts, oldest first
    entered_ns: int = 0  # perf_counter_ns when the oldest input of the batch reached its source
    clock_ms: int = 0  # the feed's event time: the latest bar end the batch held (0: not known here)


@dataclass(slots=True, frozen=True)
class CandleSeries:
    """A symbol's candles for one timeframe as columns (for the chart)."""

    symbol: str
    timeframe: Timeframe
    start: np.ndarray  # int64 ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray

    @classmethod
    def from_rows(cls, symbol: str, timeframe: Timeframe, rows: Sequence[tuple]) -> "CandleSeries":
        """Rows of ``(start, open, high, low, close, volume, vwap)``, oldest first."""
        cols = list(zip(*rows)) if rows else [()] * 7
        start = np.array(cols[0], dtype=np.int64)
        f = [np.array(c, dtype=np.float64) for c in cols[1:]]
        return cls(symbol, timeframe, start, *f)

    @classmethod
    def from_candles(cls, symbol: str, timeframe: Timeframe, candles: Sequence[Candle]) -> "CandleSeries":
        return cls.from_rows(symbol, timeframe,
                             [(c.start_ms, c.open, c.high, c.low, c.close, c.volume, c.vwap) for c in candles])

    def __len__(self) -> int:
        return len(self.start)
