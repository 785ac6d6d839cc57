"""Domain model: the typed events that flow through the pipeline.

Prices arrive as :class:`Bar` (one Polygon/Massive ``AM`` minute or ``A`` second
aggregate), are aggregated into :class:`Candle` per :class:`Timeframe`, and news
arrives as :class:`Article`. A :class:`WatchItem` is one line of the user's
watchlist. A :class:`NewsImpact` is what a symbol did after an article (its figures are
defined and computed in :mod:`backend.signals.impact`; the type and its plain-data codec
live here so that stores and the bus need nothing but the model). All timestamps are UTC Unix **milliseconds**, as Polygon sends them.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

MINUTE_MS = 60_000
SECOND_MS = 1_000

#: Ticker syntax: letters, optionally a dot or hyphen class suffix (BRK.B, BF-B), 1-10 chars.
TICKER_RE = re.compile(r"^[A-Z]{1,6}([.\-][A-Z]{1,3})?$")
TICKER_MAX_LEN = 10


class Timeframe(enum.StrEnum):
    """Candle timeframes; each member *is* its label (``"1m"``…) as used in settings, stores and exports."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """Bucket length in milliseconds (a day for ``1d``; its buckets follow New York days)."""
        return _TIMEFRAME_MS[self]

    @classmethod
    def parse(cls, text: str) -> "Timeframe":
        """Return the timeframe for a label like ``"5m"``; raise ``ValueError`` with the choices."""
        for tf in cls:
            if tf.value == text:
                return tf
        raise ValueError(f"unknown timeframe {text!r}; choose one of {', '.join(t.value for t in cls)}")


_TIMEFRAME_MS = {
    Timeframe.M1: MINUTE_MS,
    Timeframe.M5: 5 * MINUTE_MS,
    Timeframe.M15: 15 * MINUTE_MS,
    Timeframe.H1: 60 * MINUTE_MS,
    Timeframe.D1: 24 * 60 * MINUTE_MS,
}

ROLLUPS = (Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.D1)


class Bar(NamedTuple):
    """One Polygon/Massive aggregate message (``AM`` minute or ``A`` second).

    Field names follow the wire format's meaning: ``v`` tick volume, ``av`` today's
    accumulated volume, ``op`` today's official open, ``vw`` the bar's VWAP, ``a``
    today's VWAP, ``z`` average trade size, ``s``/``e`` start/end in ms. A named
    tuple: hundreds of thousands are built per second on the ingest path.
    """

    ev: str  # "AM" or "A"
    symbol: str
    start_ms: int
    end_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    accumulated_volume: float = 0.0
    official_open: float = 0.0
    day_vwap: float = 0.0
    avg_trade_size: float = 0.0
    otc: bool = False

    @property
    def trades(self) -> int:
        """Trade count, derived as volume / average trade size (the feed sends no count)."""
        if self.avg_trade_size > 0:
            return max(1, round(self.volume / self.avg_trade_size))
        return 0


class Candle(NamedTuple):
    """OHLCV candle for one symbol, timeframe and bucket start (UTC ms).

    A named tuple (cheap to build by the hundred thousand, and its field order is the
    store's column order); ``timeframe`` is a :class:`Timeframe`, which is a ``str``.
    """

    symbol: str
    timeframe: Timeframe
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trades: int

    @property
    def key(self) -> tuple[str, Timeframe, int]:
        return (self.symbol, self.timeframe, self.start_ms)


@dataclass(slots=True, frozen=True)
class Article:
    """A Guardian article and the watchlist symbols it was matched to.

    ``published_ms`` is ``webPublicationDate`` in UTC ms; ``updated_ms`` is when we
    last saw a newer version (live blogs are republished under the same ``id``).
    """

    id: str
    published_ms: int
    title: str
    url: str
    section: str
    summary: str = ""
    thumbnail: str = ""
    symbols: frozenset[str] = field(default_factory=frozenset)
    queries: frozenset[str] = field(default_factory=frozenset)
    updated_ms: int = 0

    def merged(self, newer: "Article") -> "Article":
        """Combine two sightings of the same article id: newest text, union of symbols."""
        base = newer if (newer.updated_ms, newer.published_ms) >= (self.updated_ms, self.published_ms) else self
        return Article(
            id=self.id,
            published_ms=min(self.published_ms, newer.published_ms),
            title=base.title,
            url=base.url,
            section=base.section,
            summary=base.summary,
            thumbnail=base.thumbnail,
            symbols=self.symbols | newer.symbols,
            queries=self.queries | newer.queries,
            updated_ms=max(self.updated_ms, newer.updated_ms),
        )


@dataclass(slots=True, frozen=True)
class WatchItem:
    """One watchlist line: a ticker, the Guardian query that finds its news, and sections."""

    symbol: str
    query: str
    sections: tuple[str, ...] = ()


def validate_ticker(text: str) -> str:
    """Normalise and check a ticker; return it upper-cased or raise ``ValueError`` saying why."""
    symbol = text.strip().upper()
    if not symbol:
        raise ValueError("ticker is empty")
    if len(symbol) > TICKER_MAX_LEN:
        raise ValueError(f"ticker {symbol[:TICKER_MAX_LEN]}… is longer than {TICKER_MAX_LEN} characters")
    if not TICKER_RE.match(symbol):
        raise ValueError(
            f"ticker {symbol!r} is not valid: use letters, optionally with a class suffix after a dot "
            "or hyphen (e.g. BRK.B)"
        )
    return symbol


@dataclass(frozen=True, slots=True)
class WindowImpact:
    """One window's figures; None means unknown, and ``notes`` says why.

    Attributes:
        minutes: The window's length N (1, 5, 15 or 60).
        end_ms: End of the window (exclusive), UTC ms.
        final: True once the window's time has passed (its figures will not change
            unless a late correction rewrites a candle inside it).
        return_pct: Last close in the window against the base, in percent.
        range_pct: High-low range over the window against its first open, in percent.
        volume: Shares traded in the window.
        volume_z: ``volume`` as a z-score against the time-of-day baseline.
        minutes_with_data: How many of the window's minutes have a candle.
        notes: Why a figure is None, or what to know about it (gaps, pending).
    """

    minutes: int
    end_ms: int
    final: bool
    return_pct: float | None = None
    range_pct: float | None = None
    volume: float | None = None
    volume_z: float | None = None
    minutes_with_data: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewsImpact:
    """The impact of one article on one symbol (see backend.signals.impact for the definitions).

    Attributes:
        article_id: The Guardian article id.
        symbol: The ticker.
        published_ms: The article's publication time.
        anchor_ms: Start of the windows (the publication minute, or the next open).
        out_of_hours: True if published while the regular session was closed.
        base_price: Last price before publication, or None if no candle precedes it.
        base_ms: Start of the candle ``base_price`` is the close of.
        windows: One :class:`WindowImpact` per window length, shortest first.
        baseline_sessions: Previous sessions the volume z-scores were computed from.
        notes: About the base and anchor (e.g. no price before publication).
    """

    article_id: str
    symbol: str
    published_ms: int
    anchor_ms: int
    out_of_hours: bool
    base_price: float | None
    base_ms: int | None
    windows: tuple[WindowImpact, ...]
    baseline_sessions: int = 0
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """(article id, symbol): an impact's identity."""
        return (self.article_id, self.symbol)

    @property
    def final(self) -> bool:
        """True when every window is final."""
        return all(w.final for w in self.windows)

    def window(self, minutes: int) -> WindowImpact:
        """The window of ``minutes`` length; ``KeyError`` if not computed."""
        for w in self.windows:
            if w.minutes == minutes:
                return w
        raise KeyError(f"no {minutes}-minute window (windows: {[w.minutes for w in self.windows]})")

    @property
    def headline(self) -> WindowImpact | None:
        """The longest final window with a return (what a marker's colour and size show), or None."""
        known = [w for w in self.windows if w.final and w.return_pct is not None]
        return known[-1] if known else None


def impact_to_dict(impact: NewsImpact) -> dict:
    """An impact as plain JSON-able data (the stored form and the ``impact`` record's body)."""
    return asdict(impact)


def impact_from_dict(raw: dict) -> NewsImpact:
    """Rebuild :func:`impact_to_dict`'s output; ``KeyError``/``TypeError`` if a field is missing or unknown."""
    raw = dict(raw)
    windows = tuple(WindowImpact(**{**w, "notes": tuple(w["notes"])}) for w in raw.pop("windows"))
    return NewsImpact(**{**raw, "windows": windows, "notes": tuple(raw["notes"])})


def impact_to_json(impact: NewsImpact) -> str:
    """Encode an impact as JSON (the stored form, also handy for exports)."""
    return json.dumps(impact_to_dict(impact), separators=(",", ":"))


def impact_from_json(text: str) -> NewsImpact:
    """Decode :func:`impact_to_json`'s output."""
    return impact_from_dict(json.loads(text))
