"""Feeds the Iceberg archive from the embedded pipeline, in batches, and reads history back from it.

The worker thread hands every changed candle and article to :class:`Archiver`; it keeps
only the latest version of each (a live candle changes every second; the archive needs
its final state), and appends them as one Iceberg commit every ``interval_s`` and on
stop — never per message. pyiceberg is an optional extra: without it the archiver says
so once and stays off, and the hot store keeps everything (retention waits for the archive:
:mod:`backend.processing.retention`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path
from typing import Iterable

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


class Archiver:
    """Batches the pipeline's output into the archive (one thread: the pipeline's worker)."""

    def __init__(self, warehouse: Path, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.warehouse = warehouse
        self.interval_s = interval_s
        self._candles: dict[tuple, Candle] = {}
        self._articles: dict[str, Article] = {}
        self._last_flush = time.monotonic()
        self._archive = None
        self.problem = ""  # why the archive is off for good (not installed, cannot open)
        self.last_error = ""  # the last append that failed ('' after one succeeded)
        if importlib.util.find_spec("pyiceberg") is None:
            self.problem = "the Iceberg archive needs pyiceberg: pip install 'tickerwire[iceberg]'"
            log.warning("archive off: %s", self.problem)

    @property
    def enabled(self) -> bool:
        """pyiceberg is installed and the archive has not failed to open."""
        return not self.problem

    @property
    def archive(self):
        """The IcebergArchive, opened on first use (pyiceberg and pyarrow cost ~1 s and ~120 MB: not at start-up)."""
        if self._archive is None and not self.problem:
            from backend.stores.iceberg_archive import IcebergArchive
            try:
                self._archive = IcebergArchive.local(self.warehouse)
            except StoreError as exc:
                self.problem = str(exc)
                log.error("archive off: %s", exc)
        return self._archive

    def add(self, candles: Iterable[Candle], articles: Iterable[Article]) -> None:
        """Remember the latest version of each candle and article; append when the interval is up."""
        if not self.enabled:
            return
        for c in candles:
            self._candles[c.key] = c
        for a in articles:
            self._articles[a.id] = a
        if time.monotonic() - self._last_flush >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Append what is pending as one commit per table; on failure keep it for the next try."""
        if not self.enabled or not (self._candles or self._articles) or self.archive is None:
            self._last_flush = time.monotonic()
            return
        try:
            self.archive.add_candles(self._candles.values())
            self.archive.add_articles(self._articles.values())
            self.archive.flush()
        except StoreError as exc:
            log.error("archive append failed, will retry: %s", exc)
            self.last_error = str(exc)
            return
        finally:
            self._last_flush = time.monotonic()
        self.last_error = ""
        self._candles.clear()
        self._articles.clear()

    def append_now(self, candles: list[Candle]) -> None:
        """Append candles in one commit now and return only once the archive holds them.

        Raises:
            StoreError: the archive is off or refused the commit (the candles stay queued in it).
        """
        archive = self.archive
        if archive is None:
            raise StoreError(self.problem or "the archive is not available")
        try:
            archive.append_candles(candles)
        except StoreError as exc:
            self.last_error = str(exc)
            raise
        self.last_error = ""

    def candles_before(self, symbol: str, timeframe: Timeframe, end_ms: int, days: int = 7) -> list[Candle]:
        """Archived candles in the ``days`` before ``end_ms`` (history older than the hot store);
        when that window is empty (a long pause), everything archived before ``end_ms``."""
        if not self.enabled or self.archive is None:
            return []
        try:
            recent = self.archive.candles(symbol, timeframe, end_ms - days * 86_400_000, end_ms)
            return recent or self.archive.candles(symbol, timeframe, None, end_ms)
        except StoreError as exc:
            log.error("archive read failed: %s", exc)
            return []

    def close(self) -> None:
        self.flush()
