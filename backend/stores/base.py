"""The contract every candle/article store honours (embedded SQLite, InfluxDB).

Writes are upserts: a candle is identified by (symbol, timeframe, start_ms) and an
article by its id, so writing the same thing twice — a replay, a correction, a
re-delivered Kafka message — never duplicates it.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

from backend.model import Article, Candle, Timeframe


class StoreError(Exception):
    """A store could not complete an operation (unreachable, rejected write, corrupt file)."""


class CandleStore(Protocol):
    """Hot store for candles and articles."""

    def upsert_candles(self, candles: Iterable[Candle]) -> None:
        """Insert or replace candles by (symbol, timeframe, start_ms)."""

    def upsert_articles(self, articles: Iterable[Article]) -> None:
        """Insert articles, merging with an existing one of the same id (union of symbols, newest text)."""

    def candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Candle]:
        """Candles with ``start_ms <= candle.start_ms < end_ms``, oldest first."""

    def articles(
        self,
        start_ms: int | None = None,
        end_ms: int | None = None,
        symbols: Sequence[str] | None = None,
    ) -> list[Article]:
        """Articles published in ``[start_ms, end_ms)`` matching any of ``symbols`` (all when None), oldest first."""

    def flush(self) -> None:
        """Make everything written so far durable."""

    def close(self) -> None:
        """Flush and release resources."""
