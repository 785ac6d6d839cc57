"""The Iceberg archive in a process of its own, so the app's process never loads pyiceberg and pyarrow.

Opening the archive imports pyiceberg, pyarrow and SQLAlchemy (~120 MB) and its first append
costs ~70 MB more — as much again as the whole window and pipeline. :class:`ArchiveProcess`
offers the archive's calls that :class:`~backend.processing.archiver.Archiver` uses and runs
them in a child process (started on first use, ``spawn``), passing candles and articles over a
pipe. A failure in the child comes back as a :class:`~backend.stores.base.StoreError`; a child
that died is started again at the next call.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from typing import Any, Iterable, Mapping

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError

log = logging.getLogger(__name__)

#: How long one call may take (an append with its compaction, a scan) before the child is called stuck.
CALL_TIMEOUT_S = 600.0


class ArchiveProcess:
    """The archive behind a pipe. ``local`` is a warehouse directory; ``properties`` a pyiceberg catalog's."""

    def __init__(self, *, local: str | None = None, properties: Mapping[str, str] | None = None) -> None:
        if (local is None) == (properties is None):
            raise ValueError("give the archive's local directory or its catalog properties")
        self._spec = ("local", local) if local is not None else ("properties", dict(properties))
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._candles: list[Candle] = []
        self._articles: list[Article] = []
        self._call("open")  # fail now, like opening the archive in process would

    # -- the archive's calls ----------------------------------------------------------------------

    def add_candles(self, candles: Iterable[Candle]) -> None:
        self._candles.extend(candles)

    def add_articles(self, articles: Iterable[Article]) -> None:
        self._articles.extend(articles)

    def flush(self) -> None:
        """Append what was added (one commit per table); on failure it stays added for the next flush."""
        if self._candles or self._articles:
            self._call("append", self._candles, self._articles)
            self._candles, self._articles = [], []

    def append_candles(self, candles: Iterable[Candle]) -> None:
        self.add_candles(candles)
        self.flush()

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]:
        return self._call("candles", symbol, timeframe, start_ms, end_ms)

    def articles(self, start_ms: int | None = None, end_ms: int | None = None, symbols=None) -> list[Article]:
        return self._call("articles", start_ms, end_ms, symbols)

    def close(self) -> None:
        """Flush, then end the child."""
        try:
            self.flush()
        finally:
            with self._lock:
                if self._conn is not None:
                    try:
                        self._conn.send(("close",))
                        self._conn.recv()
                    except (OSError, EOFError):
                        pass
                self._stop_child()

    # -- the pipe ---------------------------------------------------------------------------------

    def _call(self, op: str, *args: Any) -> Any:
        with self._lock:
            for attempt in (1, 2):
                if self._process is None or not self._process.is_alive():
                    self._start_child()
                try:
                    self._conn.send((op, *args))
                    if not self._conn.poll(CALL_TIMEOUT_S):
                        self._stop_child()
                        raise StoreError(f"the archive process did not answer {op} within {CALL_TIMEOUT_S:.0f} s")
                    status, value = self._conn.recv()
                except (OSError, EOFError) as exc:
                    self._stop_child()
                    if attempt == 2:
                        raise StoreError(f"the archive process died ({exc})") from exc
                    log.warning("the archive process died (%s); starting it again", exc)
                    continue
                if status == "error":
                    raise StoreError(value)
                return value
        raise AssertionError("unreachable")

    def _start_child(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, self._spec), name="tickerwire-archive",
                                        daemon=True)
        self._process.start()
        child.close()

    def _stop_child(self) -> None:
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


def serve(conn, spec: tuple[str, Any]) -> None:
    """The child: open the archive, then answer calls until ``close`` or the parent goes away."""
    archive = None
    while True:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if archive is None:
                from backend.stores.iceberg_archive import IcebergArchive

                kind, where = spec
                archive = IcebergArchive.local(where) if kind == "local" else IcebergArchive.from_properties(where)
            if op == "open":
                result = None
            elif op == "append":
                candles, articles = args
                archive.add_candles(candles)
                archive.add_articles(articles)
                archive.flush()
                result = None
            elif op == "candles":
                result = archive.candles(*args)
            elif op == "articles":
                start_ms, end_ms, symbols = args
                result = archive.articles(start_ms, end_ms, symbols=symbols)
            elif op == "close":
                archive.close()
                conn.send(("ok", None))
                return
            else:
                raise StoreError(f"unknown archive call {op!r}")
            conn.send(("ok", result))
        except StoreError as exc:
            conn.send(("error", str(exc)))
        except Exception as exc:  # anything else: said, and the child stays up for the next call
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
