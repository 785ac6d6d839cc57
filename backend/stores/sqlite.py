"""Embedded hot store on SQLite (WAL): candles and articles, durable across restarts and crashes.

Why SQLite: it ships with Python, its write-ahead log makes every committed batch
atomic and crash-safe (a process killed with SIGKILL loses only what it had not yet
committed, and never corrupts the file), range queries on (symbol, timeframe, start)
are index seeks on a ``WITHOUT ROWID`` primary key, and readers (exports, the GUI's
history loads) do not block the writer.

Besides candles and articles it keeps the second bars of minutes built from seconds
(``seconds``): a minute's later second bar is an upsert against them even after a restart,
and a minute whose ``AM`` bar arrived has none (see :mod:`backend.processing.late`).

One :class:`SqliteStore` belongs to one thread (the pipeline's); other threads and
processes open their own. :meth:`SqliteStore.transaction` groups a whole batch's writes
into one commit.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from pathlib import Path
from typing import Iterable, Sequence

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError

SCHEMA_VERSION = 2  # 2: the seconds table

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candles (
    symbol TEXT NOT NULL, timeframe TEXT NOT NULL, start INTEGER NOT NULL,
    open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
    volume REAL NOT NULL, vwap REAL NOT NULL, trades INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, published INTEGER NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
    section TEXT NOT NULL, summary TEXT NOT NULL, thumbnail TEXT NOT NULL,
    queries TEXT NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_time ON articles (published);
CREATE TABLE IF NOT EXISTS seconds (
    symbol TEXT NOT NULL, start INTEGER NOT NULL,
    open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
    volume REAL NOT NULL, pv REAL NOT NULL, trades INTEGER NOT NULL,
    PRIMARY KEY (symbol, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS article_symbols (
    symbol TEXT NOT NULL, published INTEGER NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (symbol, published, id)
) WITHOUT ROWID;
"""

# A Timeframe is a str subclass, which sqlite3 binds only after looking for an adapter and a __conform__
# on it: registered, it binds as its plain label at once (about a tenth of a candle upsert's cost).
sqlite3.register_adapter(Timeframe, str.__str__)

_UPSERT_CANDLE = "INSERT OR REPLACE INTO candles VALUES (?,?,?,?,?,?,?,?,?,?)"
#: Candles per statement when upserting many: one multi-row statement costs less than as many single ones.
_ROWS_PER_STATEMENT = 64
_UPSERT_CANDLES = "INSERT OR REPLACE INTO candles VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * _ROWS_PER_STATEMENT)
_SEPARATOR = "\x1f"


class SqliteStore:
    """Candles and articles in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """``readonly`` opens an existing store for reading only (exports, another thread's look): it never
        creates, migrates or locks it for writing."""
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                           isolation_level=None, check_same_thread=False)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache
            # Checkpoint the WAL every 8,192 pages (32 MiB) instead of 1,000: a page rewritten by several
            # commits (a roll-up's, a range's last) is copied back once; 12% of a backlog's ingest went there.
            self._db.execute("PRAGMA wal_autocheckpoint=8192")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    # -- writes -------------------------------------------------------------------------------

    def upsert_candles(self, candles: Iterable[Candle]) -> None:
        """Insert or replace candles in one transaction (a later one of the same key wins)."""
        rows = candles if isinstance(candles, list) else list(candles)
        whole = len(rows) - len(rows) % _ROWS_PER_STATEMENT
        try:
            with self.transaction():
                if whole:
                    self._db.executemany(_UPSERT_CANDLES, [tuple(chain.from_iterable(rows[i:i + _ROWS_PER_STATEMENT]))
                                                          for i in range(0, whole, _ROWS_PER_STATEMENT)])
                self._db.executemany(_UPSERT_CANDLE, rows[whole:])
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"writing candles to {self.path} failed: {exc}") from exc

    def upsert_articles(self, articles: Iterable[Article]) -> list[Article]:
        """Insert or merge articles by id; return the stored (merged) versions."""
        stored = []
        try:
            with self.transaction():
                for article in articles:
                    existing = self._article(article.id)
                    merged = existing.merged(article) if existing else article
                    self._db.execute(
                        "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
                        (merged.id, merged.published_ms, merged.title, merged.url, merged.section,
                         merged.summary, merged.thumbnail, _SEPARATOR.join(sorted(merged.queries)),
                         merged.updated_ms),
                    )
                    if existing and existing.published_ms != merged.published_ms:
                        self._db.execute("DELETE FROM article_symbols WHERE id = ?", (merged.id,))
                    self._db.executemany(
                        "INSERT OR IGNORE INTO article_symbols VALUES (?,?,?)",
                        [(s, merged.published_ms, merged.id) for s in merged.symbols],
                    )
                    stored.append(merged)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"writing articles to {self.path} failed: {exc}") from exc
        return stored

    def upsert_seconds(self, rows: Iterable[tuple]) -> None:
        """Insert or replace second bars ``(symbol, start, open, high, low, close, volume, price*volume, trades)``."""
        try:
            with self.transaction():
                self._db.executemany("INSERT OR REPLACE INTO seconds VALUES (?,?,?,?,?,?,?,?,?)", rows)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"writing second bars to {self.path} failed: {exc}") from exc

    def delete_seconds(self, minutes: Iterable[tuple[str, int]]) -> None:
        """Forget the second bars of ``(symbol, minute start)`` (its ``AM`` bar settled the minute)."""
        try:
            with self.transaction():
                self._db.executemany("DELETE FROM seconds WHERE symbol = ? AND start >= ? AND start < ?",
                                     [(s, m, m + 60_000) for s, m in minutes])
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"deleting second bars in {self.path} failed: {exc}") from exc

    def seconds(self, symbol: str, start_ms: int, end_ms: int) -> dict[int, dict[int, tuple]]:
        """Stored second bars in ``[start_ms, end_ms)`` by minute start, then second start → values."""
        out: dict[int, dict[int, tuple]] = {}
        for row in self._db.execute("SELECT start, open, high, low, close, volume, pv, trades FROM seconds "
                                    "WHERE symbol = ? AND start >= ? AND start < ?", (symbol, start_ms, end_ms)):
            start = row[0]
            out.setdefault(start - start % 60_000, {})[start] = row[1:]
        return out

    def prune_seconds(self, before_ms: int) -> int:
        """Drop second bars older than ``before_ms`` (no later bar may merge with them); return how many."""
        with self.transaction():
            return self._db.execute("DELETE FROM seconds WHERE start < ?", (before_ms,)).rowcount

    def set_meta(self, key: str, value: str) -> None:
        """Persist a small value (watermarks, cursors) next to the data it describes."""
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    # -- reads --------------------------------------------------------------------------------

    def candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Candle]:
        rows = self._db.execute(
            "SELECT * FROM candles WHERE symbol = ? AND timeframe = ? AND start >= ? AND start < ? ORDER BY start",
            (symbol, str(timeframe), start_ms if start_ms is not None else -(1 << 62),
             end_ms if end_ms is not None else 1 << 62),
        ).fetchall()
        tf = Timeframe(timeframe)
        return [Candle(r[0], tf, *r[2:]) for r in rows]

    def candle_columns(
        self, symbol: str, timeframe: Timeframe, start_ms: int | None = None, limit: int | None = None
    ) -> list[tuple]:
        """The newest ``limit`` candles as raw rows (start, o, h, l, c, v, vwap), oldest first."""
        rows = self._db.execute(
            "SELECT start, open, high, low, close, volume, vwap FROM candles "
            "WHERE symbol = ? AND timeframe = ? AND start >= ? ORDER BY start DESC LIMIT ?",
            (symbol, str(timeframe), start_ms if start_ms is not None else -(1 << 62), limit or -1),
        ).fetchall()
        rows.reverse()
        return rows

    def latest_candle_start(self, symbol: str | None = None, timeframe: Timeframe = Timeframe.M1) -> int | None:
        """Start of the newest candle (of ``symbol``, or of any symbol)."""
        if symbol is None:
            row = self._db.execute("SELECT MAX(start) FROM candles WHERE timeframe = ?", (str(timeframe),)).fetchone()
        else:
            row = self._db.execute(
                "SELECT MAX(start) FROM candles WHERE symbol = ? AND timeframe = ?", (symbol, str(timeframe))
            ).fetchone()
        return row[0] if row else None

    def first_candle_start(self, symbol: str, timeframe: Timeframe) -> int | None:
        """Start of the oldest candle the store still holds for a symbol and timeframe."""
        row = self._db.execute("SELECT MIN(start) FROM candles WHERE symbol = ? AND timeframe = ?",
                               (symbol, str(timeframe))).fetchone()
        return row[0] if row else None

    def symbols(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT symbol FROM candles WHERE timeframe = '1d'")]

    def articles(
        self,
        start_ms: int | None = None,
        end_ms: int | None = None,
        symbols: Sequence[str] | None = None,
    ) -> list[Article]:
        lo = start_ms if start_ms is not None else -(1 << 62)
        hi = end_ms if end_ms is not None else 1 << 62
        if symbols is None:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM articles WHERE published >= ? AND published < ? ORDER BY published, id", (lo, hi))]
        else:
            marks = ",".join("?" * len(symbols))
            ids = [r[0] for r in self._db.execute(
                f"SELECT DISTINCT id, published FROM article_symbols WHERE symbol IN ({marks}) "
                "AND published >= ? AND published < ? ORDER BY published, id", (*symbols, lo, hi))]
        return [a for a in map(self._article, ids) if a is not None]

    def _article(self, article_id: str) -> Article | None:
        row = self._db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            return None
        symbols = frozenset(r[0] for r in self._db.execute(
            "SELECT symbol FROM article_symbols WHERE id = ?", (article_id,)))
        queries = frozenset(q for q in row[7].split(_SEPARATOR) if q)
        return Article(row[0], row[1], row[2], row[3], row[4], row[5], row[6], symbols, queries, row[8])

    # -- lifecycle ----------------------------------------------------------------------------

    def symbols_with_candles_before(self, cutoff_ms: int) -> list[str]:
        """Symbols that have a candle (of any timeframe) starting before ``cutoff_ms``."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT symbol FROM candles WHERE start < ?", (cutoff_ms,))]

    def candles_in(self, symbol: str, start_ms: int | None, end_ms: int) -> list[Candle]:
        """Every timeframe's candles of ``symbol`` starting in ``[start_ms, end_ms)`` (for the archive)."""
        rows = self._db.execute("SELECT * FROM candles WHERE symbol = ? AND start >= ? AND start < ?",
                                (symbol, start_ms if start_ms is not None else -(1 << 62), end_ms)).fetchall()
        return [Candle(r[0], Timeframe(r[1]), *r[2:]) for r in rows]

    def delete_candles_before(self, symbol: str, cutoff_ms: int) -> int:
        """Retention: drop ``symbol``'s candles that start before ``cutoff_ms``; return how many went.

        When any went, the cutoff is remembered (``meta('retention_cutoff_ms')``): older history
        must then come from the archive.
        """
        with self.transaction():
            dropped = self._db.execute("DELETE FROM candles WHERE symbol = ? AND start < ?",
                                       (symbol, cutoff_ms)).rowcount
            if dropped:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('retention_cutoff_ms', ?)", (str(cutoff_ms),))
        return dropped

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection, for modules that keep their own tables in this file (same thread rule)."""
        return self._db

    def integrity_check(self) -> str:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def flush(self) -> None:
        """Every write is committed when its call returns; checkpoint the WAL into the main file."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        try:
            if not self.readonly:
                self.flush()
        finally:
            self._db.close()

    def transaction(self) -> "_Transaction":
        """``with store.transaction():`` makes every write inside one commit (all or nothing)."""
        return _Transaction(self._db)



class _Transaction:
    """``BEGIN`` … ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = db.in_transaction

    def __enter__(self) -> None:
        if not self._outer:
            self._db.execute("BEGIN")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._outer:
            return
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
