"""News impact: what a symbol's price and volume did in the minutes after an article.

:func:`compute_impact` is a **pure function** of one article's (id, symbol, publication
time) and the symbol's 1m candles — no store, no clock, no state — so the embedded
pipeline and a stream processor (the Flink job, holding the candles in its state) get
the same numbers from the same input. :class:`ImpactTracker` keeps impacts up to date
as candles arrive, reading history through a :class:`CandleHistory` (the SQLite store
in the app, see :class:`backend.signals.impact_store.StoreCandleHistory`).

Definitions (UTC milliseconds, 1m candles only; sessions are New York 09:30–16:00 on weekdays):

* **Publication minute** ``P``: ``published_ms`` floored to the minute.
* **Base**: the close of the last 1m candle that *started before* ``P`` — the last price
  before publication (``base_price``/``base_ms``). None, with a note, if there is none.
* **Anchor**: where the windows start. ``P`` if ``P`` is inside a regular session; else
  the next session's open (``out_of_hours``): an article published while the market is
  closed is measured by the market's first minutes after it, and its returns include
  the gap from the last close (the base) to the open.
* **Window +N** (N = 1, 5, 15, 60 minutes): the minutes ``[anchor, anchor + N min)``.
  ``return_pct`` = last close in the window / base − 1; ``range_pct`` = (highest high −
  lowest low) / the window's first open; ``volume`` = the window's volume summed.
* **Volume z-score**: the window's volume against the same minutes after the open in the
  previous 10 sessions with data — see :mod:`backend.signals.baseline` for the exact
  definition (``BASELINE_DESCRIPTION``); at least 3 sessions are needed.
* **Final**: a window is final when the symbol has a candle starting at or after its
  end (or, for callers that know more, ``clock_ms`` — a watermark up to which the
  symbol's data is complete — is at or past the end). A pending window has no values.
  A window that would run past the session close is final at once with no values: it
  would not be an N-minute window.
* A window without any candle (no trades, or a feed gap — the data cannot tell) has no
  values. Every None comes with a line in ``notes`` saying why; nothing is ever filled in.

Reading an impact (for the GUI): ``impact.window(5).return_pct`` (None or a %),
``impact.headline`` (the longest final window that has a return — for marker colour and
size), ``impact.final`` (all windows done), and ``notes`` on the impact and each window.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Protocol, Sequence

from backend.model import MINUTE_MS, Article, Candle, NewsImpact, Timeframe, WindowImpact
from backend.signals.baseline import (
    BASELINE_SESSIONS,
    MIN_BASELINE_SESSIONS,
    SessionVolume,
    SessionVolumeCache,
    baseline_volumes,
    sessions_from_candles,
    volume_zscore,
)
from backend.timeutil import DAY_MS, HOUR_MS, NEW_YORK, is_trading_day, ny_date, ny_day_start, session_bounds

WINDOW_MINUTES: tuple[int, ...] = (1, 5, 15, 60)


# -- sessions -----------------------------------------------------------------------------------


def session_anchor(published_ms: int) -> tuple[int, int, int, bool]:
    """Where an article's windows start: ``(anchor_ms, session_open_ms, session_close_ms, out_of_hours)``."""
    minute = published_ms - published_ms % MINUTE_MS
    day = ny_date(published_ms)
    for _ in range(14):
        if is_trading_day(day):
            open_ms, close_ms = session_bounds(day)
            if minute < close_ms:
                if minute >= open_ms:
                    return minute, open_ms, close_ms, False
                return open_ms, open_ms, close_ms, True
        day += timedelta(days=1)
    raise ValueError(f"no trading session within two weeks of {published_ms}")  # pragma: no cover - weekdays


def ny_clock(ms: int) -> str:
    """``HH:MM`` in New York time, for notes."""
    return datetime.fromtimestamp(ms / 1000, tz=NEW_YORK).strftime("%H:%M")


# -- the pure computation -----------------------------------------------------------------------


class MinuteSeries:
    """A symbol's 1m candles sorted by start (one per start, the last given wins), with range lookups."""

    def __init__(self, candles: Iterable[Candle], symbol: str) -> None:
        by_start = {c.start_ms: c for c in candles if c.symbol == symbol and c.timeframe == Timeframe.M1}
        self.starts = sorted(by_start)
        self.candles = [by_start[s] for s in self.starts]

    def between(self, start_ms: int, end_ms: int) -> list[Candle]:
        lo = bisect.bisect_left(self.starts, start_ms)
        hi = bisect.bisect_left(self.starts, end_ms)
        return self.candles[lo:hi]

    def last_before(self, ms: int) -> Candle | None:
        i = bisect.bisect_left(self.starts, ms)
        return self.candles[i - 1] if i else None

    def any_at_or_after(self, ms: int) -> bool:
        return bool(self.starts) and self.starts[-1] >= ms


def compute_impact(
    article_id: str,
    symbol: str,
    published_ms: int,
    candles: Iterable[Candle],
    clock_ms: int | None = None,
    windows: Sequence[int] = WINDOW_MINUTES,
    baseline_sessions: int = BASELINE_SESSIONS,
    sessions: Iterable[SessionVolume] | None = None,
) -> NewsImpact:
    """Compute an article's impact on ``symbol`` from the symbol's 1m candles.

    Args:
        article_id: The article's id (carried into the result).
        symbol: The ticker; candles of other symbols and timeframes are ignored.
        published_ms: Publication time, UTC ms.
        candles: The symbol's 1m candles: at least the last one before publication, those
            in the windows (and one after, to know a window is over) and, unless
            ``sessions`` is given, the earlier sessions for the volume baseline. More is fine.
        clock_ms: Optional watermark up to which the symbol's data is known complete.
        windows: Window lengths in minutes, ascending.
        baseline_sessions: How many earlier sessions the volume baseline uses.
        sessions: Earlier sessions' volumes, newest first, if the caller has them already
            (the tracker's cache); by default they are built from ``candles``.

    Returns:
        The :class:`NewsImpact`; never raises for missing data.
    """
    minutes = MinuteSeries(candles, symbol)
    anchor, open_ms, close_ms, out_of_hours = session_anchor(published_ms)
    publication_minute = published_ms - published_ms % MINUTE_MS
    notes: list[str] = []
    if out_of_hours:
        notes.append(f"published while the market was closed: windows start at the {ny_date(anchor):%a %d %b} "
                     f"{ny_clock(anchor)} open")
    base = minutes.last_before(publication_minute)
    if base is None:
        notes.append("no price before publication (no earlier candle)")
    if sessions is None:
        sessions = sessions_from_candles(minutes.candles, open_ms)
    baseline = baseline_volumes(sessions, anchor - open_ms, windows, baseline_sessions)
    out = tuple(
        _window(minutes, n, anchor, close_ms, base, baseline[n], clock_ms) for n in windows
    )
    return NewsImpact(article_id, symbol, published_ms, anchor, out_of_hours,
                      base.close if base else None, base.start_ms if base else None,
                      out, len(baseline[windows[0]]) if windows else 0, tuple(notes))


def _window(minutes: MinuteSeries, n: int, anchor: int, close_ms: int, base: Candle | None,
            baseline: list[float], clock_ms: int | None) -> WindowImpact:
    end = anchor + n * MINUTE_MS
    if end > close_ms:
        inside = (close_ms - anchor) // MINUTE_MS
        return WindowImpact(n, end, True, notes=(
            f"the session closes at {ny_clock(close_ms)}, {inside} min into this {n}-min window",))
    if not (minutes.any_at_or_after(end) or (clock_ms is not None and clock_ms >= end)):
        return WindowImpact(n, end, False, notes=(f"pending: the window ends at {ny_clock(end)} New York",))
    span = minutes.between(anchor, end)
    if not span:
        return WindowImpact(n, end, True, notes=(
            f"no candle between {ny_clock(anchor)} and {ny_clock(end)}: no trades or a feed gap",))
    notes: list[str] = []
    if len(span) < n:
        notes.append(f"{n - len(span)} of {n} minutes have no candle")
    return_pct = None
    if base is None:
        notes.append("return: no price before publication")
    else:
        return_pct = (span[-1].close / base.close - 1.0) * 100.0
    first_open = span[0].open
    range_pct = (max(c.high for c in span) - min(c.low for c in span)) / first_open * 100.0 if first_open > 0 else None
    if range_pct is None:
        notes.append("range: the window's first open is not a positive price")
    volume = sum(c.volume for c in span)
    volume_z = None
    if len(baseline) < MIN_BASELINE_SESSIONS:
        notes.append(f"volume z: {len(baseline)} earlier session(s) with data at this time of day "
                     f"(need {MIN_BASELINE_SESSIONS})")
    else:
        volume_z = volume_zscore(volume, baseline)
        if volume_z is None:
            notes.append("volume z: the baseline sessions all traded the same volume (no spread)")
    return WindowImpact(n, end, True, return_pct, range_pct, volume, volume_z, len(span), tuple(notes))


# -- incremental tracking -----------------------------------------------------------------------


class CandleHistory(Protocol):
    """Read access to stored 1m candles (implemented over the SQLite store)."""

    def minute_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[Candle]:
        """The symbol's 1m candles starting in ``[start_ms, end_ms)``, oldest first."""

    def minute_candle_before(self, symbol: str, ms: int) -> Candle | None:
        """The symbol's last 1m candle starting before ``ms``."""

    def first_minute_start(self, symbol: str) -> int | None:
        """Start of the symbol's earliest stored 1m candle."""

    def latest_minute_start(self, symbol: str) -> int | None:
        """Start of the symbol's newest stored 1m candle."""


#: How long after its last window an impact still follows corrections (Polygon re-sends for ~15 min).
CORRECTION_HORIZON_MS = 20 * MINUTE_MS


@dataclass(slots=True)
class _Tracked:
    article_id: str
    symbol: str
    published_ms: int
    anchor_ms: int
    open_ms: int
    last_end_ms: int
    current: NewsImpact | None = None
    latest_seen_ms: int = -(1 << 62)


class ImpactTracker:
    """Keeps every recent (article, symbol) impact current as 1m candles arrive.

    Feed it each batch with :meth:`apply` *after* the batch's candles are stored in the
    history; it returns the impacts whose figures changed (new articles, windows that
    became final, corrections inside a window). Impacts that are final and past the
    correction horizon are forgotten (they live in the store). After a restart, call
    :meth:`restore` with the stored impacts that were not final.
    """

    def __init__(self, history: CandleHistory, windows: Sequence[int] = WINDOW_MINUTES,
                 baseline_sessions: int = BASELINE_SESSIONS) -> None:
        self._history = history
        self._windows = tuple(sorted(windows))
        self._baseline_sessions = baseline_sessions
        self._sessions = SessionVolumeCache(history.minute_candles, history.first_minute_start)
        self._tracked: dict[tuple[str, str], _Tracked] = {}

    def __len__(self) -> int:
        return len(self._tracked)

    def restore(self, impacts: Iterable[NewsImpact]) -> list[NewsImpact]:
        """Resume following stored impacts (e.g. those not final at shutdown); return their current figures."""
        return [self._track(i.article_id, i.symbol, i.published_ms) for i in impacts]

    def apply(self, candles: Sequence[Candle], articles: Sequence[Article]) -> list[NewsImpact]:
        """Take one batch and return the impacts that changed."""
        touched: dict[str, list[int]] = {}  # symbol -> [min, max] start of its changed 1m candles
        m1 = Timeframe.M1
        for c in candles:
            if c.timeframe is m1:
                t = c.start_ms
                span = touched.get(c.symbol)
                if span is None:
                    touched[c.symbol] = [t, t]
                elif t < span[0]:
                    span[0] = t
                elif t > span[1]:
                    span[1] = t
        for symbol, (lo, hi) in touched.items():
            day = ny_day_start(lo)
            while day <= hi:  # every New York day the changed minutes span
                self._sessions.invalidate(symbol, day)
                day = ny_day_start(day + DAY_MS + 2 * HOUR_MS)
        changed: dict[tuple[str, str], NewsImpact] = {}
        for article in articles:
            for symbol in sorted(article.symbols):
                impact = self._track(article.id, symbol, article.published_ms)
                changed[impact.key] = impact
        for key, entry in list(self._tracked.items()):
            span = touched.get(entry.symbol)
            if span is None or key in changed:
                continue
            lo, hi = span
            entry.latest_seen_ms = max(entry.latest_seen_ms, hi)
            current = entry.current
            first_used = entry.anchor_ms if current is None or current.base_ms is None else current.base_ms
            if current is None or not current.final or (lo < entry.last_end_ms and hi >= first_used):
                impact = self._compute(entry)
                if impact != current:
                    entry.current = changed[key] = impact
            if entry.current is not None and entry.current.final and \
                    entry.latest_seen_ms >= entry.last_end_ms + CORRECTION_HORIZON_MS:
                del self._tracked[key]
        return list(changed.values())

    def _track(self, article_id: str, symbol: str, published_ms: int) -> NewsImpact:
        entry = self._tracked.get((article_id, symbol))
        if entry is None or entry.published_ms != published_ms:
            anchor, open_ms, _, _ = session_anchor(published_ms)
            entry = _Tracked(article_id, symbol, published_ms, anchor, open_ms,
                             anchor + self._windows[-1] * MINUTE_MS)
            self._tracked[(article_id, symbol)] = entry
        entry.current = self._compute(entry)
        return entry.current

    def _compute(self, entry: _Tracked) -> NewsImpact:
        """Gather what :func:`compute_impact` needs from the history and call it.

        The symbol's newest candle start is passed as ``clock_ms``: "a candle at or after
        the window's end exists" is exactly ``clock_ms >= end``.
        """
        history = self._history
        publication_minute = entry.published_ms - entry.published_ms % MINUTE_MS
        base = history.minute_candle_before(entry.symbol, publication_minute)
        window = history.minute_candles(entry.symbol, entry.anchor_ms, entry.last_end_ms)
        return compute_impact(entry.article_id, entry.symbol, entry.published_ms, ([base] if base else []) + window,
                              clock_ms=history.latest_minute_start(entry.symbol), windows=self._windows,
                              baseline_sessions=self._baseline_sessions,
                              sessions=self._sessions.sessions_before(entry.symbol, entry.open_ms))
