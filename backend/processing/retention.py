"""Hot-store retention that never deletes what the archive does not hold — the embedded SQLite store
and the stack's InfluxDB alike.

The hot store keeps ``hot_retention_days`` of candles; older ones live in the Iceberg archive.
Before anything is deleted, every candle about to go — whatever wrote it: the window,
``collect``, a run before pyiceberg was installed, the last minute before a crash — is appended
to the archive and the commit confirmed; only then are they deleted, symbol by symbol, and the
symbol's archived-through mark recorded (in the SQLite store's ``meta('archived_through:<symbol>')``).
An archive that cannot be reached or is not installed pauses retention: nothing is deleted, and the
status says so.

The cut-off is a New York midnight, so no roll-up bucket (5m … 1d) straddles it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from typing import Callable, Protocol

from backend.model import Candle
from backend.processing.archiver import Archiver
from backend.stores.base import StoreError
from backend.timeutil import DAY_MS, ny_day_start

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionOutcome:
    """What one pass did: ``paused`` is the reason nothing could be deleted ('' when it ran)."""

    cutoff_ms: int
    deleted: int = 0
    symbols: int = 0
    paused: str = ""


class RetainedStore(Protocol):
    """What retention needs of a hot store (SqliteStore, InfluxStore)."""

    def symbols_with_candles_before(self, cutoff_ms: int) -> list[str]: ...

    def candles_in(self, symbol: str, start_ms: int | None, end_ms: int) -> list[Candle]: ...

    def delete_candles_before(self, symbol: str, cutoff_ms: int) -> int: ...


class HotStoreRetention:
    """Archive-then-delete retention of one hot store (called from the thread that owns the store).

    ``record_mark(symbol, cutoff)`` is told each symbol's archived-through mark after the archive commit.
    """

    def __init__(self, store: RetainedStore, archiver: Archiver | None, days: int,
                 record_mark: Callable[[str, int], None] | None = None) -> None:
        self._store = store
        self._archiver = archiver
        self.days = days
        self._record_mark = record_mark

    def cutoff(self, now_ms: int) -> int:
        """The New York midnight before which candles leave the hot store."""
        return ny_day_start(now_ms - self.days * DAY_MS)

    def enforce(self, now_ms: int) -> RetentionOutcome:
        """One pass: archive and then delete what is older than the cut-off."""
        cutoff = self.cutoff(now_ms)
        symbols = self._store.symbols_with_candles_before(cutoff)
        if not symbols:
            return RetentionOutcome(cutoff)
        archiver = self._archiver
        if archiver is None or not archiver.enabled:
            reason = archiver.problem if archiver is not None else "no archive is configured"
            return RetentionOutcome(cutoff, paused=f"{reason}; the hot store keeps everything until it is")
        deleted = 0
        try:
            archiver.flush()  # what the pipeline handed over first, so the store's versions are the last written
            for symbol in symbols:
                candles = self._store.candles_in(symbol, None, cutoff)
                archiver.append_now(candles)  # raises unless the archive committed them
                if self._record_mark is not None:
                    self._record_mark(symbol, cutoff)
                deleted += self._store.delete_candles_before(symbol, cutoff)
        except StoreError as exc:
            log.error("hot store retention paused: %s", exc)
            return RetentionOutcome(cutoff, deleted, len(symbols), paused=f"archive unavailable ({exc})")
        if deleted:
            log.info("hot store: %d candles older than %d days archived and deleted", deleted, self.days)
        return RetentionOutcome(cutoff, deleted, len(symbols))
