"""Flux queries of the InfluxDB hot store and the parsing of their CSV answers.

Candles come back pivoted to one row per time (``open``, ``high``, … as columns);
news comes back one row per (time, symbol) point and is merged into articles by id
(union of symbols, newest text); every point also carries the article's full symbol
list, so an article found through one symbol still lists all of them. Ranges are half-open, ``[start, stop)``, exactly like
Flux's ``range``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Iterator, Sequence

from backend.model import Article, Candle, NewsImpact, Timeframe, impact_from_json
from backend.stores.influx_lines import IMPACTS, QUERY_SEP

#: Bounds used when a range end is open (Flux needs explicit times).
EARLIEST = "1970-01-01T00:00:00Z"
LATEST = "2200-01-01T00:00:00Z"

CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "trades")
NEWS_FIELDS = ("id", "title", "url", "section", "summary", "thumbnail", "symbols", "queries", "updated_ms")


class FluxError(RuntimeError):
    """The server answered a query with an error table."""


def flux_string(value: str) -> str:
    """A Flux string literal for ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def flux_time(ms: int | None, default: str) -> str:
    """An RFC 3339 time literal with millisecond precision (``default`` when ``ms`` is None)."""
    if ms is None:
        return default
    stamp = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


def _range(start_ms: int | None, end_ms: int | None, condition: str, stop_inclusive: bool) -> str:
    """``range`` over ``[start_ms, end_ms)`` followed by the tag filter (which must directly follow to be pushed down).

    InfluxDB 1.8's storage treats ``range``'s ``stop`` as inclusive (2.x: exclusive); with
    ``stop_inclusive`` the stop is moved 1 ms earlier, exact for millisecond data.
    """
    start = flux_time(start_ms, EARLIEST)
    stop = LATEST if end_ms is None else flux_time(end_ms - 1 if stop_inclusive else end_ms, LATEST)
    return f"  |> range(start: {start}, stop: {stop})\n  |> filter(fn: (r) => {condition})\n"


def candles_query(
    bucket: str,
    symbol: str,
    timeframe: Timeframe,
    start_ms: int | None,
    end_ms: int | None,
    stop_inclusive: bool = False,
) -> str:
    """Flux for one symbol's candles of one timeframe in ``[start_ms, end_ms)``, pivoted to rows.

    ``stop_inclusive`` must be True for InfluxDB 1.x (see :func:`_range`).
    """
    keep = ", ".join(f'"{c}"' for c in ("_time", *CANDLE_FIELDS))
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        + _range(
            start_ms,
            end_ms,
            f'r._measurement == "candles" and r.symbol == {flux_string(symbol)}'
            f" and r.timeframe == {flux_string(timeframe.value)}",
            stop_inclusive,
        )
        + '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        f"  |> keep(columns: [{keep}])\n"
    )


def first_candle_query(bucket: str, symbol: str, timeframe: Timeframe) -> str:
    """Flux for the time of a symbol's earliest candle of one timeframe (one row, or none)."""
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        + _range(None, None, f'r._measurement == "candles" and r.symbol == {flux_string(symbol)}'
                 f' and r.timeframe == {flux_string(timeframe.value)} and r._field == "close"', False)
        + '  |> first()\n  |> keep(columns: ["_time"])\n'
    )


def symbols_before_query(bucket: str, end_ms: int, stop_inclusive: bool = False) -> str:
    """Flux for the distinct symbols that have a candle before ``end_ms`` (one row per symbol, in ``_value``)."""
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        + _range(None, end_ms, 'r._measurement == "candles" and r._field == "close"', stop_inclusive)
        + '  |> keep(columns: ["symbol", "_value"])\n  |> group()\n  |> distinct(column: "symbol")\n'
    )


def news_query(
    bucket: str,
    start_ms: int | None,
    end_ms: int | None,
    symbols: Sequence[str] | None,
    stop_inclusive: bool = False,
) -> str:
    """Flux for news points in ``[start_ms, end_ms)`` for any of ``symbols`` (all when None), pivoted to rows."""
    condition = 'r._measurement == "news"'
    if symbols is not None:
        wanted = " or ".join(f"r.symbol == {flux_string(s)}" for s in symbols) or "false"
        condition += f" and ({wanted})"
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        + _range(start_ms, end_ms, condition, stop_inclusive)
        + '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
    )


def impacts_query(
    bucket: str,
    start_ms: int | None,
    end_ms: int | None,
    symbols: Sequence[str] | None = None,
    article_id: str | None = None,
    stop_inclusive: bool = False,
) -> str:
    """Flux for news impacts of articles published in ``[start_ms, end_ms)``, by symbols and/or one article."""
    condition = f'r._measurement == "{IMPACTS}" and r._field == "impact"'
    if symbols is not None:
        wanted = " or ".join(f"r.symbol == {flux_string(s)}" for s in symbols) or "false"
        condition += f" and ({wanted})"
    if article_id is not None:
        condition += f" and r.article == {flux_string(article_id)}"
    return (f"from(bucket: {flux_string(bucket)})\n" + _range(start_ms, end_ms, condition, stop_inclusive)
            + '  |> keep(columns: ["_time", "_value"])\n')


def csv_rows(text: str) -> Iterator[dict[str, str]]:
    """Rows of a Flux CSV answer (no annotations) as dicts; a new header may start any block.

    Raises:
        FluxError: the answer is an error table.
    """
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or all(not cell for cell in record):
            header = None
            continue
        if header is None:
            header = record
            if "error" in header and "reference" in header:
                header = ["error-header", *header]  # mark; next row carries the message
            continue
        if header[0] == "error-header":
            raise FluxError(dict(zip(header[1:], record)).get("error", text[:500]))
        yield dict(zip(header, record))


def parse_time_ms(text: str) -> int:
    """Milliseconds of an RFC 3339 time as Flux prints it (``2025-06-02T13:30:00.123Z``)."""
    date, _, rest = text.partition("T")
    clock = rest.rstrip("Z")
    whole, _, frac = clock.partition(".")
    seconds = int(dt.datetime.fromisoformat(f"{date}T{whole}+00:00").timestamp())
    return seconds * 1000 + int((frac + "000")[:3])


_CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "vwap")


def parse_candles(text: str, symbol: str, timeframe: Timeframe) -> list[Candle]:
    """Candles from the CSV answer of :func:`candles_query`."""
    out = []
    for row in csv_rows(text):
        # InfluxDB stores each field as its own series: a read racing a write can see a point
        # with only some fields. Such a row is incomplete, not a candle; the next read has it whole.
        if not row.get("_time") or not all(row.get(f) for f in _CANDLE_FIELDS):
            continue
        out.append(
            Candle(
                symbol=symbol,
                timeframe=timeframe,
                start_ms=parse_time_ms(row["_time"]),
                open=float(row["open"]),
                high=float(row["high"]),
                low=float(row["low"]),
                close=float(row["close"]),
                volume=float(row["volume"]),
                vwap=float(row["vwap"]),
                trades=int(row["trades"] or 0),
            )
        )
    out.sort(key=lambda c: c.start_ms)
    return out


def parse_news(text: str) -> list[Article]:
    """Articles from the CSV answer of :func:`news_query`, merged by id, oldest published first."""
    merged: dict[str, Article] = {}
    for row in csv_rows(text):
        if not row.get("id"):
            continue
        symbols = {s for s in row.get("symbols", "").split(QUERY_SEP) if s}
        if row.get("symbol"):
            symbols.add(row["symbol"])
        article = Article(
            id=row["id"],
            published_ms=parse_time_ms(row["_time"]),
            title=_text(row.get("title", "")),
            url=row.get("url", ""),
            section=row.get("section", ""),
            summary=_text(row.get("summary", "")),
            thumbnail=row.get("thumbnail", ""),
            symbols=frozenset(symbols),
            queries=frozenset(q for q in row.get("queries", "").split(QUERY_SEP) if q),
            updated_ms=int(row.get("updated_ms") or 0),
        )
        previous = merged.get(article.id)
        merged[article.id] = article if previous is None else previous.merged(article)
    return sorted(merged.values(), key=lambda a: (a.published_ms, a.id))


def parse_impacts(text: str) -> list[NewsImpact]:
    """Impacts from the CSV answer of :func:`impacts_query`, oldest publication first."""
    out = [impact_from_json(row["_value"]) for row in csv_rows(text) if row.get("_value")]
    return sorted(out, key=lambda i: (i.published_ms, i.article_id, i.symbol))


def _text(value: str) -> str:
    """Undo the CSV writer's CRLF line endings inside a text field (the server's CSV uses CRLF)."""
    return value.replace("\r\n", "\n")
