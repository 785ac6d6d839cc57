"""News impacts in the SQLite hot store, and the store as the impact tracker's candle history.

:class:`ImpactStore` keeps one row per (article, symbol) in a ``news_impacts`` table of
the same file as the candles (through :attr:`SqliteStore.connection`), so impacts
survive restarts and the GUI's "News impact" table can load them in one query.
:class:`StoreCandleHistory` gives :class:`~backend.signals.impact.ImpactTracker` the
candle reads it needs. Both belong to the store's thread (the pipeline's worker).
"""

from __future__ import annotations

import sqlite3
from typing import Iterable, Sequence

from backend.model import Candle, NewsImpact, Timeframe, impact_from_json, impact_to_json
from backend.stores.base import StoreError
from backend.stores.sqlite import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS news_impacts (
    article_id TEXT NOT NULL, symbol TEXT NOT NULL, published INTEGER NOT NULL,
    final INTEGER NOT NULL, impact TEXT NOT NULL,
    PRIMARY KEY (article_id, symbol)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS news_impacts_by_symbol ON news_impacts (symbol, published);
"""
_M1 = str(Timeframe.M1)


class ImpactStore:
    """Read and write :class:`NewsImpact` s in the store's ``news_impacts`` table."""

    def __init__(self, store: SqliteStore) -> None:
        self._db = store.connection
        self._path = store.path
        try:
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot create the news_impacts table in {self._path}: {exc}") from exc

    def upsert(self, impacts: Iterable[NewsImpact]) -> None:
        """Insert or replace impacts (atomically, also inside an outer transaction)."""
        rows = [(i.article_id, i.symbol, i.published_ms, int(i.final), impact_to_json(i)) for i in impacts]
        if not rows:
            return
        try:
            self._db.execute("SAVEPOINT news_impacts")
            try:
                self._db.executemany("INSERT OR REPLACE INTO news_impacts VALUES (?,?,?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK TO news_impacts")
                raise
            finally:
                self._db.execute("RELEASE news_impacts")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"writing news impacts to {self._path} failed: {exc}") from exc

    def load(self, symbols: Sequence[str] | None = None, start_ms: int | None = None,
             end_ms: int | None = None) -> list[NewsImpact]:
        """Impacts of articles published in ``[start_ms, end_ms)``, of ``symbols`` (or all), oldest first."""
        lo = start_ms if start_ms is not None else -(1 << 62)
        hi = end_ms if end_ms is not None else 1 << 62
        if symbols is None:
            rows = self._db.execute(
                "SELECT impact FROM news_impacts WHERE published >= ? AND published < ? "
                "ORDER BY published, article_id, symbol", (lo, hi))
        else:
            marks = ",".join("?" * len(symbols))
            rows = self._db.execute(
                f"SELECT impact FROM news_impacts WHERE symbol IN ({marks}) AND published >= ? AND published < ? "
                "ORDER BY published, article_id, symbol", (*symbols, lo, hi))
        return [impact_from_json(r[0]) for r in rows]

    def for_article(self, article_id: str) -> list[NewsImpact]:
        """The impacts of one article (one per symbol it was matched to)."""
        rows = self._db.execute(
            "SELECT impact FROM news_impacts WHERE article_id = ? ORDER BY symbol", (article_id,))
        return [impact_from_json(r[0]) for r in rows]

    def unfinished(self) -> list[NewsImpact]:
        """Impacts with a window still pending (to resume tracking after a restart)."""
        rows = self._db.execute("SELECT impact FROM news_impacts WHERE final = 0 ORDER BY published")
        return [impact_from_json(r[0]) for r in rows]


class StoreCandleHistory:
    """The :class:`~backend.signals.impact.CandleHistory` reads, answered by the SQLite store."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def minute_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[Candle]:
        return self._store.candles(symbol, Timeframe.M1, start_ms, end_ms)

    def minute_candle_before(self, symbol: str, ms: int) -> Candle | None:
        row = self._store.connection.execute(
            "SELECT * FROM candles WHERE symbol = ? AND timeframe = ? AND start < ? ORDER BY start DESC LIMIT 1",
            (symbol, _M1, ms)).fetchone()
        return Candle(row[0], Timeframe.M1, *row[2:]) if row else None

    def first_minute_start(self, symbol: str) -> int | None:
        row = self._store.connection.execute(
            "SELECT MIN(start) FROM candles WHERE symbol = ? AND timeframe = ?", (symbol, _M1)).fetchone()
        return row[0] if row else None

    def latest_minute_start(self, symbol: str) -> int | None:
        return self._store.latest_candle_start(symbol, Timeframe.M1)
