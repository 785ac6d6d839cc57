"""InfluxDB line protocol for candles, articles and news impacts, with millisecond timestamps.

Polygon timestamps are Unix **milliseconds**; points are written with
``WritePrecision.MS`` and the timestamp is the millisecond integer itself (the
reference project multiplied by 10⁹ and overflowed int64). Encoding by hand with
f-strings is about ten times faster than building ``influxdb_client.Point``
objects, which is what lets one Python process write >100k points/s.

Layout:

* ``candles,symbol=AAPL,timeframe=1m open=…,high=…,low=…,close=…,volume=…,vwap=…,trades=12i <start_ms>``
* ``news,symbol=AAPL id="…",title="…",url="…",section="…",summary="…",thumbnail="…",symbols="…",queries="…",
  updated_ms=…i <published_ms>``
  (one point per matched symbol; an article matched to no symbol is written once without the tag).
* ``news_impacts,symbol=AAPL,article=<id> impact="<JSON>",final=true <published_ms>``
  (one point per (article, symbol); ``impact`` is :func:`backend.signals.impact_store.impact_to_json`).

A point is identified by (measurement, tag set, time), so writing it again replaces
it: replays never duplicate.
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

from backend.model import Article, Candle, NewsImpact, impact_to_json

CANDLES = "candles"
NEWS = "news"
IMPACTS = "news_impacts"
#: Separator inside the ``symbols`` and ``queries`` string fields (a unit separator never appears in either).
QUERY_SEP = "\x1f"


class UnencodablePoint(ValueError):
    """A value line protocol cannot carry (NaN or infinite float)."""


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _str_field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def candle_line(candle: Candle) -> str:
    """One line of line protocol for a candle (timestamp in ms).

    Raises:
        UnencodablePoint: a price or volume is NaN or infinite.
    """
    c = candle
    if not math.isfinite(c.open + c.high + c.low + c.close + c.volume + c.vwap):
        bad = [n for n in ("open", "high", "low", "close", "volume", "vwap") if not math.isfinite(getattr(c, n))]
        if bad:
            raise UnencodablePoint(f"non-finite float in {', '.join(bad)}")
    return (
        f"candles,symbol={_symbol_tag(c.symbol)},timeframe={c.timeframe.value} "
        f"open={float(c.open)!r},high={float(c.high)!r},low={float(c.low)!r},close={float(c.close)!r},"
        f"volume={float(c.volume)!r},vwap={float(c.vwap)!r},trades={int(c.trades)}i {int(c.start_ms)}"
    )


_SYMBOL_TAGS: dict[str, str] = {}


def _symbol_tag(symbol: str) -> str:
    """Escaped tag value of a symbol, memoised (a watchlist has few symbols; this is the hot path)."""
    tag = _SYMBOL_TAGS.get(symbol)
    if tag is None:
        tag = _tag(symbol)
        if len(_SYMBOL_TAGS) < 100_000:
            _SYMBOL_TAGS[symbol] = tag
    return tag


def article_lines(article: Article) -> list[str]:
    """Lines of line protocol for an article: one per matched symbol (timestamp = published, in ms)."""
    fields = (
        f"id={_str_field(article.id)},title={_str_field(article.title)},url={_str_field(article.url)},"
        f"section={_str_field(article.section)},summary={_str_field(article.summary)},"
        f"thumbnail={_str_field(article.thumbnail)},"
        f"symbols={_str_field(QUERY_SEP.join(sorted(article.symbols)))},"
        f"queries={_str_field(QUERY_SEP.join(sorted(article.queries)))},"
        f"updated_ms={int(article.updated_ms)}i {int(article.published_ms)}"
    )
    if not article.symbols:
        return [f"news {fields}"]
    return [f"news,symbol={_tag(symbol)} {fields}" for symbol in sorted(article.symbols)]


def impact_line(impact: NewsImpact) -> str:
    """One line of line protocol for a news impact (timestamp = the article's publication, in ms)."""
    return (f"{IMPACTS},symbol={_symbol_tag(impact.symbol)},article={_tag(impact.article_id)} "
            f"impact={_str_field(impact_to_json(impact))},final={'true' if impact.final else 'false'} "
            f"{int(impact.published_ms)}")


def encode_candles(candles: Iterable[Candle], rejected: list[tuple[str, str]]) -> Iterator[str]:
    """Yield candle lines; append ``(repr(candle), reason)`` to ``rejected`` for unencodable ones."""
    for candle in candles:
        try:
            yield candle_line(candle)
        except UnencodablePoint as exc:
            rejected.append((repr(candle), str(exc)))


def encode_articles(articles: Iterable[Article], rejected: list[tuple[str, str]]) -> Iterator[str]:
    """Yield article lines; append ``(repr(article), reason)`` to ``rejected`` for unencodable ones."""
    for article in articles:
        try:
            yield from article_lines(article)
        except UnencodablePoint as exc:  # pragma: no cover - articles carry no floats today
            rejected.append((repr(article), str(exc)))


def line_time_ms(line: str) -> int:
    """The timestamp (ms) at the end of a line this module wrote."""
    return int(line.rsplit(" ", 1)[1])
