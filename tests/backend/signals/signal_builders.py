"""Builders for the signals tests: 1m candles of whole or partial New York sessions, and articles."""

from __future__ import annotations

from datetime import date, datetime

from backend.model import MINUTE_MS, Article, Candle, Timeframe
from backend.timeutil import NEW_YORK, session_bounds

#: Monday 3 Feb 2025 and the five sessions before it (Mon 27 – Fri 31 Jan).
DAY = date(2025, 2, 3)
PREVIOUS_DAYS = [date(2025, 1, d) for d in (27, 28, 29, 30, 31)]


def ny_ms(day: date, hh: int, mm: int, ss: int = 0) -> int:
    """UTC ms of a New York wall-clock time."""
    return int(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=NEW_YORK).timestamp() * 1000)


def minute_candle(symbol: str, start_ms: int, close: float, volume: float, open_: float | None = None,
                  high: float | None = None, low: float | None = None) -> Candle:
    o = close if open_ is None else open_
    h = max(o, close) + 0.05 if high is None else high
    l = min(o, close) - 0.05 if low is None else low
    return Candle(symbol, Timeframe.M1, start_ms, o, h, l, close, volume, (o + close) / 2, 10)


def session(symbol: str, day: date, price: float = 100.0, step: float = 0.01, volume: float = 1000.0,
            until: tuple[int, int] | None = None, skip: frozenset[int] = frozenset()) -> list[Candle]:
    """A session's 1m candles: the close rises by ``step`` a minute; volume grows by 1 a minute.

    ``until`` (hh, mm) stops before that New York minute; ``skip`` holds minute indexes
    (0 = 09:30) that get no candle (a gap).
    """
    open_ms, close_ms = session_bounds(day)
    end = close_ms if until is None else ny_ms(day, *until)
    out = []
    for i, start in enumerate(range(open_ms, end, MINUTE_MS)):
        if i in skip:
            continue
        close = round(price + step * i, 4)
        out.append(minute_candle(symbol, start, close, volume + i, open_=round(close - step, 4)))
    return out


def article(article_id: str, published_ms: int, *symbols: str, title: str = "Company news") -> Article:
    return Article(article_id, published_ms, title, f"https://www.theguardian.com/{article_id}", "business",
                   symbols=frozenset(symbols))
