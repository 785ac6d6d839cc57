"""Feeds the Iceberg archive in batches, and reads history back from it — in both pipelines.

Candles and articles are handed to :class:`Archiver` as they are stored; it keeps only the
latest version of each (a live candle changes every second; the archive needs its final
state) and appends them as one Iceberg commit every ``interval_s`` and on close — never per
message. :meth:`Archiver.flush` says whether everything pending is now committed, so a caller
that must not lose anything (the stack's archive sink commits its Kafka offsets only then)
can rely on it.

The archive is opened on first use by the ``open_archive`` callable given (the embedded
pipeline's local catalog and warehouse, or the stack's catalog and S3 store). An archive that
cannot be opened or written is retried at the next flush; its error is kept in
``last_error``. pyiceberg is an optional extra: without it the archiver says so once and
stays off, and the hot store keeps everything (retention waits for the archive:
:mod:`backend.processing.retention`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from typing import Callable, Iterable

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0
#: Pending rows that trigger an append before the interval is up (a backlog must not grow without bound).
MAX_PENDING = 200_000


class Archiver:
    """Batches candles and articles into the archive (used from one thread at a time).

    Args:
        open_archive: Opens the :class:`~backend.stores.iceberg_archive.IcebergArchive` (raises StoreError).
        where: Where the archive is, for messages.
        interval_s: How often pending rows are appended.
    """

    def __init__(self, open_archive: Callable[[], object], where: str, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._open_archive = open_archive
        self.where = where
        self.interval_s = interval_s
        self._candles: dict[tuple, Candle] = {}
        self._articles: dict[str, Article] = {}
        self._last_flush = time.monotonic()
        self._archive = None
        self.problem = ""  # why the archive is off for good (pyiceberg not installed)
        self.last_error = ""  # why the last open or append failed ('' once one succeeded)
        if importlib.util.find_spec("pyiceberg") is None:
            self.problem = "the Iceberg archive needs pyiceberg: reinstall TickerWire (pip install -e .)"
            log.warning("archive off: %s", self.problem)

    @property
    def enabled(self) -> bool:
        """pyiceberg is installed (the archive may still be unreachable for now: see ``last_error``)."""
        return not self.problem

    @property
    def pending(self) -> int:
        return len(self._candles) + len(self._articles)

    def holds(self, key: tuple) -> bool:
        """Whether the candle of ``key`` (symbol, timeframe, start) is waiting to be appended."""
        return key in self._candles

    @property
    def archive(self):
        """The IcebergArchive, opened on first use (pyiceberg and pyarrow cost ~1 s and ~120 MB: not at start-up);
        None while it cannot be opened."""
        if self._archive is None and not self.problem:
            try:
                self._archive = self._open_archive()
            except StoreError as exc:
                if str(exc) != self.last_error:  # said once; the next attempts are quiet until it changes
                    log.error("archive at %s cannot be opened: %s", self.where, exc)
                self.last_error = str(exc)
        return self._archive

    def add(self, candles: Iterable[Candle], articles: Iterable[Article]) -> None:
        """Remember the latest version of each candle and article; append when the interval is up."""
        if not self.enabled:
            return
        for c in candles:
            self._candles[c.key] = c
        for a in articles:
            self._articles[a.id] = a
        if self.due():
            self.flush()

    def due(self) -> bool:
        """Whether pending rows should be appended now."""
        return self.pending >= MAX_PENDING or (self.pending and time.monotonic() - self._last_flush >= self.interval_s)

    def flush(self) -> bool:
        """Append what is pending as one commit per table; True when nothing is pending any more.

        On failure everything stays pending for the next try (and ``last_error`` says why).
        """
        self._last_flush = time.monotonic()
        if not self.enabled:
            return False
        if not self.pending:
            return True
        archive = self.archive
        if archive is None:
            return False
        try:
            archive.add_candles(self._candles.values())
            archive.add_articles(self._articles.values())
            archive.flush()
        except StoreError as exc:
            log.error("archive append failed, will retry: %s", exc)
            self.last_error = str(exc)
            return False
        self.last_error = ""
        self._candles.clear()
        self._articles.clear()
        return True

    def discard(self) -> int:
        """Forget what is pending (its source delivers it again: the sink's uncommitted Kafka offsets); return
        how many rows that was."""
        dropped = self.pending
        self._candles.clear()
        self._articles.clear()
        return dropped

    def append_now(self, candles: list[Candle]) -> None:
        """Append candles in one commit now and return only once the archive holds them.

        Raises:
            StoreError: the archive is off or refused the commit (the candles stay queued in it).
        """
        archive = self.archive
        if archive is None:
            raise StoreError(self.problem or self.last_error or "the archive is not available")
        try:
            archive.append_candles(candles)
        except StoreError as exc:
            self.last_error = str(exc)
            raise
        self.last_error = ""

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None, end_ms: int | None) -> list[Candle]:
        """Archived candles in ``[start_ms, end_ms)`` ([] while the archive is off or unreachable)."""
        if not self.enabled or self.archive is None:
            return []
        try:
            return self.archive.candles(symbol, timeframe, start_ms, end_ms)
        except StoreError as exc:
            log.error("archive read failed: %s", exc)
            return []

    def candles_before(self, symbol: str, timeframe: Timeframe, end_ms: int, days: int = 7) -> list[Candle]:
        """Archived candles in the ``days`` before ``end_ms`` (history older than the hot store);
        when that window is empty (a long pause), everything archived before ``end_ms``."""
        recent = self.candles(symbol, timeframe, end_ms - days * 86_400_000, end_ms)
        return recent or self.candles(symbol, timeframe, None, end_ms)

    def top_up(self, rows: list[tuple], symbol: str, timeframe: Timeframe, limit: int) -> list[tuple]:
        """The hot store's newest rows ``(start, o, h, l, c, v, vwap)``, preceded by archived ones up to ``limit``."""
        if len(rows) >= limit or not self.enabled:
            return rows
        end = rows[0][0] if rows else int(time.time() * 1000)
        older = self.candles_before(symbol, timeframe, end)[-(limit - len(rows)):]
        return [(c.start_ms, c.open, c.high, c.low, c.close, c.volume, c.vwap) for c in older] + rows

    def fill_range(self, hot: list[Candle], hot_first_ms: int | None, symbol: str, timeframe: Timeframe,
                   start_ms: int | None, end_ms: int | None) -> list[Candle]:
        """The hot store's candles of a range, preceded by the archive's for the part before the hot store's first."""
        older_end = end_ms if hot_first_ms is None else hot_first_ms if end_ms is None else min(hot_first_ms, end_ms)
        if start_ms is not None and older_end is not None and start_ms >= older_end:
            return hot
        return self.candles(symbol, timeframe, start_ms, older_end) + hot

    def close(self) -> None:
        self.flush()
