"""Iceberg table layouts for the archive and the Arrow conversions to and from the domain model.

Two tables live in the ``market`` namespace:

* ``market.candles`` — one row per candle sighting, keyed by (symbol, timeframe, start);
* ``market.news`` — one row per article sighting, keyed by id.

Both are partitioned by the UTC day of their timestamp: an explicit ``day`` date
column with an identity partition (Iceberg's hidden ``day`` transform would need the
optional Rust ``pyiceberg-core`` package to write from Arrow), so a range read prunes
whole days and a compaction rewrites exactly one day. Every row carries ``ingested_ns``, a
monotonically increasing write sequence: when the same key was appended more than
once (a replay, a correction), the row with the largest ``ingested_ns`` wins. The
dedupe happens on read and, physically, on compaction.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from backend.model import Article, Candle, Timeframe

NAMESPACE = "market"
CANDLES = "candles"
NEWS = "news"

DAY_MS = 86_400_000

CANDLE_SCHEMA = Schema(
    NestedField(1, "symbol", StringType(), required=True),
    NestedField(2, "timeframe", StringType(), required=True),
    NestedField(3, "start", TimestamptzType(), required=True),
    NestedField(4, "open", DoubleType(), required=True),
    NestedField(5, "high", DoubleType(), required=True),
    NestedField(6, "low", DoubleType(), required=True),
    NestedField(7, "close", DoubleType(), required=True),
    NestedField(8, "volume", DoubleType(), required=True),
    NestedField(9, "vwap", DoubleType(), required=True),
    NestedField(10, "trades", LongType(), required=True),
    NestedField(11, "ingested_ns", LongType(), required=True),
    NestedField(12, "day", DateType(), required=True),
)
CANDLE_SPEC = PartitionSpec(PartitionField(source_id=12, field_id=1000, transform=IdentityTransform(), name="day"))
CANDLE_SORT = SortOrder(
    SortField(source_id=1, transform=IdentityTransform()),
    SortField(source_id=2, transform=IdentityTransform()),
    SortField(source_id=3, transform=IdentityTransform()),
)

NEWS_SCHEMA = Schema(
    NestedField(1, "id", StringType(), required=True),
    NestedField(2, "published", TimestamptzType(), required=True),
    NestedField(3, "title", StringType(), required=True),
    NestedField(4, "url", StringType(), required=True),
    NestedField(5, "section", StringType(), required=True),
    NestedField(6, "summary", StringType(), required=True),
    NestedField(7, "thumbnail", StringType(), required=True),
    NestedField(8, "symbols", ListType(element_id=13, element_type=StringType(), element_required=True), required=True),
    NestedField(9, "queries", ListType(element_id=14, element_type=StringType(), element_required=True), required=True),
    NestedField(10, "updated_ms", LongType(), required=True),
    NestedField(11, "ingested_ns", LongType(), required=True),
    NestedField(12, "day", DateType(), required=True),
)
NEWS_SPEC = PartitionSpec(PartitionField(source_id=12, field_id=1000, transform=IdentityTransform(), name="day"))

_TS = pa.timestamp("us", tz="UTC")

CANDLE_ARROW = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("start", _TS, nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("vwap", pa.float64(), nullable=False),
        pa.field("trades", pa.int64(), nullable=False),
        pa.field("ingested_ns", pa.int64(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
    ]
)

NEWS_ARROW = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("published", _TS, nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("section", pa.string(), nullable=False),
        pa.field("summary", pa.string(), nullable=False),
        pa.field("thumbnail", pa.string(), nullable=False),
        pa.field("symbols", pa.list_(pa.field("element", pa.string(), nullable=False)), nullable=False),
        pa.field("queries", pa.list_(pa.field("element", pa.string(), nullable=False)), nullable=False),
        pa.field("updated_ms", pa.int64(), nullable=False),
        pa.field("ingested_ns", pa.int64(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
    ]
)


def day_of(ms: int) -> int:
    """Return the UTC day number (days since the epoch) that contains ``ms``."""
    return ms // DAY_MS


def candles_to_arrow(candles: Sequence[Candle], ingested_ns: int) -> pa.Table:
    """Build an Arrow table of candles, all stamped with one write sequence ``ingested_ns``.

    Within the batch a later candle with the same key replaces an earlier one, so
    a batch never carries two rows for one key. Rows come out sorted by key.
    """
    latest: dict[tuple[str, Timeframe, int], Candle] = {}
    for candle in candles:
        latest[candle.key] = candle
    # Sorted by key (the table's sort order), so Parquet row-group statistics let a
    # one-symbol read skip most of a day file.
    rows = sorted(latest.values(), key=lambda c: (c.symbol, c.timeframe.value, c.start_ms))
    return pa.table(
        {
            "symbol": [c.symbol for c in rows],
            "timeframe": [c.timeframe.value for c in rows],
            "start": pa.array([c.start_ms * 1000 for c in rows], pa.int64()).cast(_TS),
            "open": [float(c.open) for c in rows],
            "high": [float(c.high) for c in rows],
            "low": [float(c.low) for c in rows],
            "close": [float(c.close) for c in rows],
            "volume": [float(c.volume) for c in rows],
            "vwap": [float(c.vwap) for c in rows],
            "trades": [int(c.trades) for c in rows],
            "ingested_ns": pa.array([ingested_ns] * len(rows), pa.int64()),
            "day": pa.array([day_of(c.start_ms) for c in rows], pa.int32()).cast(pa.date32()),
        },
        schema=CANDLE_ARROW,
    )


def articles_to_arrow(articles: Iterable[Article], ingested_ns: int) -> pa.Table:
    """Build an Arrow table of articles, merging repeats of one id within the batch."""
    merged: dict[str, Article] = {}
    for article in articles:
        previous = merged.get(article.id)
        merged[article.id] = article if previous is None else previous.merged(article)
    rows = list(merged.values())
    return pa.table(
        {
            "id": [a.id for a in rows],
            "published": pa.array([a.published_ms * 1000 for a in rows], pa.int64()).cast(_TS),
            "title": [a.title for a in rows],
            "url": [a.url for a in rows],
            "section": [a.section for a in rows],
            "summary": [a.summary for a in rows],
            "thumbnail": [a.thumbnail for a in rows],
            "symbols": [sorted(a.symbols) for a in rows],
            "queries": [sorted(a.queries) for a in rows],
            "updated_ms": [int(a.updated_ms) for a in rows],
            "ingested_ns": pa.array([ingested_ns] * len(rows), pa.int64()),
            "day": pa.array([day_of(a.published_ms) for a in rows], pa.int32()).cast(pa.date32()),
        },
        schema=NEWS_ARROW,
    )


def latest_candle_rows(table: pa.Table) -> pa.Table:
    """Keep, per (symbol, timeframe, start), only the row with the largest ``ingested_ns``; sort by key."""
    if table.num_rows == 0:
        return table
    ordered = table.sort_by(
        [("symbol", "ascending"), ("timeframe", "ascending"), ("start", "ascending"), ("ingested_ns", "descending")]
    )
    symbol, timeframe, start = (ordered.column(n).combine_chunks() for n in ("symbol", "timeframe", "start"))
    # A row is the first of its key when any key column differs from the row before it.
    first = pc.or_(
        pc.or_(_differs_from_previous(symbol), _differs_from_previous(timeframe)), _differs_from_previous(start)
    )
    return ordered.filter(first)


def _differs_from_previous(column: pa.Array) -> pa.Array:
    """Boolean array: True at 0 and wherever ``column[i] != column[i - 1]``."""
    if len(column) == 0:
        return pa.array([], pa.bool_())
    head = pa.array([True])
    rest = pc.not_equal(column.slice(1), column.slice(0, len(column) - 1))
    return pa.concat_arrays([head, rest.combine_chunks() if isinstance(rest, pa.ChunkedArray) else rest])


def arrow_to_candles(table: pa.Table) -> list[Candle]:
    """Turn (already deduplicated) candle rows into :class:`Candle` objects in row order."""
    cols = table.to_pydict()
    starts = table.column("start").cast(pa.int64()).to_pylist() if table.num_rows else []
    return [
        Candle(
            symbol=cols["symbol"][i],
            timeframe=Timeframe.parse(cols["timeframe"][i]),
            start_ms=starts[i] // 1000,
            open=cols["open"][i],
            high=cols["high"][i],
            low=cols["low"][i],
            close=cols["close"][i],
            volume=cols["volume"][i],
            vwap=cols["vwap"][i],
            trades=cols["trades"][i],
        )
        for i in range(table.num_rows)
    ]


def arrow_to_articles(table: pa.Table) -> list[Article]:
    """Merge article sightings by id (oldest write first, so newer text wins); oldest published first."""
    if table.num_rows == 0:
        return []
    table = table.sort_by([("ingested_ns", "ascending")])
    cols = table.to_pydict()
    published = table.column("published").cast(pa.int64()).to_pylist()
    merged: dict[str, Article] = {}
    for i in range(table.num_rows):
        article = Article(
            id=cols["id"][i],
            published_ms=published[i] // 1000,
            title=cols["title"][i],
            url=cols["url"][i],
            section=cols["section"][i],
            summary=cols["summary"][i],
            thumbnail=cols["thumbnail"][i],
            symbols=frozenset(cols["symbols"][i]),
            queries=frozenset(cols["queries"][i]),
            updated_ms=cols["updated_ms"][i],
        )
        previous = merged.get(article.id)
        # Article.merged lets the argument win ties, so the later write's text wins.
        merged[article.id] = article if previous is None else previous.merged(article)
    return sorted(merged.values(), key=lambda a: (a.published_ms, a.id))
