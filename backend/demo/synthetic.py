"""A seedable synthetic market: random-walk prices with volume bursts and news shocks.

It speaks the providers' wire formats — Polygon ``AM``/``A`` frames and Guardian
``/search`` pages — so the demo exercises the same parsing and processing as live
data. Same seed and symbol, same market. History is generated a minute at a time;
the live edge a second at a time (``A`` bars, plus the ``AM`` bar at each minute's end).
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from datetime import date

from backend.model import MINUTE_MS, SECOND_MS, Article, Bar
from backend.timeutil import is_trading_day, ny_date, session_bounds
from backend.watchlist import company_name

_SECONDS_PER_MINUTE = 60
#: Per-second volatility (≈1.5 % a day) and mean news interval per symbol.
SIGMA_SECOND = 0.00022
NEWS_EVERY_MINUTES = 50.0

_GOOD = ("{n} shares jump after strong quarterly results", "{n} raises full-year guidance",
         "{n} wins major contract, analysts upgrade the stock", "{n} unveils new product line to upbeat reviews")
_BAD = ("{n} shares slide as regulators open inquiry", "{n} cuts outlook amid weaker demand",
        "{n} faces lawsuit over data practices", "{n} chief executive to step down unexpectedly")
_SECTIONS = ("business", "technology")


@dataclass(slots=True)
class NewsShock:
    """A synthetic article and the price move it causes."""

    article: Article
    move: float  # fractional drift spread over the following minutes


class SymbolWalk:
    """The price process of one symbol; deterministic for (seed, symbol)."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.rng = random.Random(zlib.crc32(f"{seed}:{symbol}".encode()))
        self.price = round(20 + self.rng.random() * 480, 2)
        self.base_volume = self.rng.choice((200, 500, 1_000, 3_000))  # shares per second
        self.drift = 0.0  # per-second drift left from the last news shock
        self.drift_seconds = 0
        self.burst = 1.0
        self.day_volume = 0.0
        self.day_pv = 0.0
        self.day_open = 0.0
        self.news_count = 0
        self.minute_parts: list[Bar] = []  # the live minute's second bars, for its AM bar

    def maybe_news(self, t_ms: int, per_seconds: int) -> NewsShock | None:
        """With the right probability for ``per_seconds`` elapsed, publish an article and shock the walk."""
        if self.rng.random() >= per_seconds / (NEWS_EVERY_MINUTES * 60):
            return None
        good = self.rng.random() < 0.5
        move = (1 if good else -1) * (0.004 + self.rng.random() * 0.016)
        name = company_name(self.symbol)
        title = self.rng.choice(_GOOD if good else _BAD).format(n=name)
        section = self.rng.choice(_SECTIONS)
        self.news_count += 1
        d = ny_date(t_ms)
        slug = f"{self.symbol.lower().replace('.', '-')}-{t_ms // 1000}-{self.news_count}"
        article_id = f"{section}/{d:%Y/%b/%d}/{slug}".lower()
        article = Article(
            id=article_id, published_ms=t_ms - t_ms % SECOND_MS, title=title,
            url=f"https://www.theguardian.com/{article_id}", section=section,
            summary=f"{name} ({self.symbol}) in focus: synthetic demo story.",
        )
        self.drift_seconds = 300
        self.drift = math.log1p(move) / self.drift_seconds
        self.burst = 6.0
        return NewsShock(article, move)

    def _step(self, seconds: int) -> tuple[float, float, float, float, float, float]:
        """Advance ``seconds`` one-second steps; return o, h, l, c, volume, vwap."""
        rng = self.rng
        o = h = l = self.price
        price = self.price
        volume = pv = 0.0
        for _ in range(seconds):
            drift = 0.0
            if self.drift_seconds > 0:
                drift = self.drift
                self.drift_seconds -= 1
            price *= math.exp(drift + rng.gauss(0.0, SIGMA_SECOND * (1 + (self.burst - 1) * 0.5)))
            h, l = max(h, price), min(l, price)
            v = float(int(self.base_volume * self.burst * rng.expovariate(1.0)) + 1)
            volume += v
            pv += v * price
            self.burst = 1.0 + (self.burst - 1.0) * 0.995
        self.price = price
        return o, h, l, price, volume, pv / volume

    def _step_minute(self) -> tuple[float, float, float, float, float, float]:
        """One minute in a few draws (for fast history): o, h, l, c, volume, vwap."""
        rng = self.rng
        drift = 0.0
        if self.drift_seconds > 0:
            n = min(60, self.drift_seconds)
            drift, self.drift_seconds = self.drift * n, self.drift_seconds - n
        sigma = SIGMA_SECOND * math.sqrt(60) * (1 + (self.burst - 1) * 0.5)
        o = self.price
        c = o * math.exp(drift + rng.gauss(0.0, sigma))
        h = max(o, c) * math.exp(abs(rng.gauss(0.0, sigma * 0.5)))
        l = min(o, c) * math.exp(-abs(rng.gauss(0.0, sigma * 0.5)))
        volume = float(int(self.base_volume * self.burst * rng.gammavariate(60.0, 1.0)) + 1)
        vw = min(h, max(l, (o + h + l + c) / 4))
        self.burst = 1.0 + (self.burst - 1.0) * 0.995**60
        self.price = c
        return o, h, l, c, volume, vw

    def bar(self, ev: str, start_ms: int, seconds: int) -> Bar:
        """The next bar covering ``seconds`` from ``start_ms`` (``AM`` for a minute, ``A`` for a second).

        A 60-second ``AM`` bar is drawn in one step (history); other bars second by second.
        """
        o, h, l, c, v, vw = self._step_minute() if seconds == 60 else self._step(seconds)
        if not self.day_open:
            self.day_open = o
        self.day_volume += v
        self.day_pv += v * vw
        r = lambda x: round(x, 4)  # noqa: E731 — the feed quotes four decimals
        return Bar(ev, self.symbol, start_ms, start_ms + seconds * SECOND_MS, r(o), r(h), r(l), r(c), v, r(vw),
                   self.day_volume, r(self.day_open), r(self.day_pv / self.day_volume),
                   float(self.rng.choice((50, 80, 100, 150, 200))), False)

    def new_day(self) -> None:
        self.day_volume = self.day_pv = self.day_open = 0.0
        self.price *= math.exp(self.rng.gauss(0, 0.01))  # overnight gap


def trading_minutes(day: date) -> range:
    """Minute starts (UTC ms) of the regular session on ``day``."""
    open_ms, close_ms = session_bounds(day)
    return range(open_ms, close_ms, MINUTE_MS)


def next_session_minute(t_ms: int) -> int:
    """``t_ms`` if inside a session, else the next session's open (skipping nights and weekends)."""
    d = ny_date(t_ms)
    for _ in range(10):
        if is_trading_day(d):
            open_ms, close_ms = session_bounds(d)
            if t_ms < open_ms:
                return open_ms
            if t_ms < close_ms:
                return t_ms
        d = date.fromordinal(d.toordinal() + 1)
        t_ms = 0
    raise RuntimeError("no session found within ten days")


__all__ = ["SymbolWalk", "NewsShock", "trading_minutes", "next_session_minute", "SIGMA_SECOND"]
