"""``tickerwire export``: candles as CSV/Parquet and news as CSV/JSON, read from either pipeline's store.

The hot store is the embedded SQLite file or the stack's InfluxDB (anything with ``candles``,
``first_candle_start`` and ``articles``); ranges older than it holds come from the archive.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Protocol, Sequence, TextIO

from backend.model import Article, Candle, Timeframe
from backend.processing.archiver import Archiver
from backend.timeutil import to_iso

CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "volume", "vwap", "trades")
NEWS_COLUMNS = ("id", "published", "title", "url", "section", "symbols")


class ExportError(Exception):
    """The export cannot be made as asked (bad format, missing extra, unwritable file)."""


class HotStore(Protocol):
    """What an export reads from a hot store (SqliteStore, InfluxStore)."""

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int | None = None,
                end_ms: int | None = None) -> list[Candle]: ...

    def first_candle_start(self, symbol: str, timeframe: Timeframe) -> int | None: ...

    def articles(self, start_ms: int | None = None, end_ms: int | None = None,
                 symbols: Sequence[str] | None = None) -> list[Article]: ...


def export_candles(store: HotStore, symbol: str, timeframe: Timeframe, start_ms: int | None,
                   end_ms: int | None, fmt: str, out: TextIO | Path, archiver: Archiver | None = None) -> int:
    """Write candles; return how many. CSV ``time`` is the candle start in ISO 8601 UTC.

    With an ``archiver``, the part of the range older than the hot store's first candle is
    read from the archive (the same way the chart's history is).
    """
    candles = store.candles(symbol, timeframe, start_ms, end_ms)
    if archiver is not None:
        candles = archiver.fill_range(candles, store.first_candle_start(symbol, timeframe), symbol, timeframe,
                                      start_ms, end_ms)
    if fmt == "csv":
        rows = [(to_iso(c.start_ms), c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trades) for c in candles]
        _write_csv(out, CANDLE_COLUMNS, rows)
    elif fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ExportError("Parquet export needs pyarrow: reinstall TickerWire (pip install -e .)") from None
        if not isinstance(out, Path):
            raise ExportError("Parquet is binary: give --output FILE")
        table = pa.table({
            "time": pa.array([c.start_ms for c in candles], pa.timestamp("ms", tz="UTC")),
            **{name: [getattr(c, name) for c in candles] for name in CANDLE_COLUMNS[1:]},
        })
        pq.write_table(table, out)
    else:
        raise ExportError(f"unknown candle format {fmt!r}: use csv or parquet")
    return len(candles)


def export_news(store: HotStore, start_ms: int | None, end_ms: int | None, fmt: str, out: TextIO | Path) -> int:
    """Write articles; return how many."""
    articles = store.articles(start_ms, end_ms)
    records = [{"id": a.id, "published": to_iso(a.published_ms), "title": a.title, "url": a.url,
                "section": a.section, "symbols": sorted(a.symbols)} for a in articles]
    if fmt == "csv":
        _write_csv(out, NEWS_COLUMNS, [(*[r[k] for k in NEWS_COLUMNS[:-1]], " ".join(r["symbols"])) for r in records])
    elif fmt == "json":
        _write_text(out, json.dumps(records, indent=2) + "\n")
    else:
        raise ExportError(f"unknown news format {fmt!r}: use csv or json")
    return len(records)


def _write_csv(out: TextIO | Path, header, rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _write_text(out, buf.getvalue())


def _write_text(out: TextIO | Path, text: str) -> None:
    if isinstance(out, Path):
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ExportError(f"cannot write {out}: {exc}") from exc
    else:
        out.write(text)
