"""News impact in a stream processor: one symbol's candles and followed articles in keyed state.

The Flink impact job (``resources/flink/impact_job.py``) keys candles and articles by
symbol and hands each element to a :class:`SymbolImpacts` built over the key's Flink
managed state (``MapState``/``ValueState``: restored after a restart). The numbers come
from :func:`backend.signals.impact.compute_impact` — the function the embedded
:class:`~backend.signals.impact.ImpactTracker` calls — with the same inputs: the last 1m
candle before publication, the 1m candles of the windows, the symbol's newest candle
start as ``clock_ms`` and the earlier sessions' volumes for the baseline.

State per symbol (bounded):

* ``minutes``: 1m candles by start, for :data:`RECENT_MS` behind the newest one (window
  candles and the last price before a publication; an article whose last earlier price
  is older than that gets "no price before publication");
* ``sessions``: per regular session (by its open), the volume of each minute, for
  :data:`SESSIONS_MS` behind the newest candle (covers the baseline's look-back);
* ``articles``: the articles being followed (id → publication time, last price before
  it, last impact emitted);
* ``latest``: the newest 1m candle start.

An impact is recomputed when a candle of its symbol arrives while it is followed — once
final, only for a candle that starts before its last window ends — and emitted when it changed. It stops being followed once it is final and the symbol's
data has moved :data:`~backend.signals.impact.CORRECTION_HORIZON_MS` past its last
window, like the embedded tracker; the job then waits a grace period of processing
time (a safety margin for candles still in flight) before dropping it
(:meth:`SymbolImpacts.forget_if_done`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from backend.model import MINUTE_MS, Candle, NewsImpact, Timeframe
from backend.signals.baseline import BASELINE_LOOKBACK_DAYS, SessionVolume, previous_sessions
from backend.signals.impact import CORRECTION_HORIZON_MS, WINDOW_MINUTES, compute_impact, session_anchor
from backend.timeutil import ny_date, ny_day_start, session_bounds

DAY_MS = 24 * 60 * MINUTE_MS
#: 1m candles kept behind the newest: a week and a long weekend.
RECENT_MS = 10 * DAY_MS
#: Session volumes kept behind the newest candle: the baseline's look-back of trading days, in calendar days.
SESSIONS_MS = (BASELINE_LOOKBACK_DAYS * 7 // 5 + 14) * DAY_MS
_LAST_WINDOW_MS = WINDOW_MINUTES[-1] * MINUTE_MS
_NONE = -(1 << 62)


class MapLike(Protocol):
    """The part of Flink's ``MapState`` used here."""

    def get(self, key: Any) -> Any: ...
    def put(self, key: Any, value: Any) -> None: ...
    def remove(self, key: Any) -> None: ...
    def items(self) -> Any: ...
    def keys(self) -> Any: ...


class ValueLike(Protocol):
    """The part of Flink's ``ValueState`` used here."""

    def value(self) -> Any: ...
    def update(self, value: Any) -> None: ...


@dataclass(slots=True)
class Followed:
    """An article followed on one symbol (the value in ``articles``; plain data, so it pickles)."""

    published_ms: int
    base_ms: int = _NONE  # start of the last 1m candle before the publication minute, if any
    last: NewsImpact | None = None  # the impact last emitted


def candle_row(candle: Candle) -> tuple:
    """A 1m candle as stored in ``minutes`` (without symbol and timeframe)."""
    return (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.vwap, candle.trades)


class SymbolImpacts:
    """One symbol's impact state and the rules that update it (see the module docstring)."""

    def __init__(self, symbol: str, minutes: MapLike, sessions: MapLike, articles: MapLike,
                 latest: ValueLike) -> None:
        self.symbol = symbol
        self._minutes = minutes
        self._sessions = sessions
        self._articles = articles
        self._latest = latest

    # -- inputs ---------------------------------------------------------------------------------

    def on_candle(self, candle: Candle) -> list[NewsImpact]:
        """Take a 1m candle (others are ignored); return the followed impacts that changed."""
        if candle.timeframe != Timeframe.M1 or candle.symbol != self.symbol:
            return []
        previous = self.latest_ms
        latest = max(previous, candle.start_ms)
        kept = candle.start_ms >= latest - RECENT_MS
        if kept:
            self._minutes.put(candle.start_ms, candle_row(candle))
        self._record_session_volume(candle)
        if latest != previous:
            self._latest.update(latest)
            if previous == _NONE or ny_day_start(previous) != ny_day_start(latest):
                self._prune(latest)
        changed = []
        for article_id, entry in list(self._articles.items()):
            if self._unaffected(entry, candle.start_ms):
                continue
            publication_minute = entry.published_ms - entry.published_ms % MINUTE_MS
            if kept and entry.base_ms <= candle.start_ms < publication_minute:
                entry.base_ms = candle.start_ms
            if self._inputs_pruned(entry, latest):
                continue  # keep what was emitted
            impact = self._emit_if_changed(article_id, entry)
            if impact is not None:
                changed.append(impact)
        return changed

    def on_article(self, article_id: str, published_ms: int) -> NewsImpact | None:
        """Follow an article (again, if republished); return its impact if it differs from the last emitted."""
        entry = self._articles.get(article_id)
        if entry is None or entry.published_ms != published_ms:
            entry = Followed(published_ms, self._base_before(published_ms - published_ms % MINUTE_MS))
        return self._emit_if_changed(article_id, entry)

    def done(self, article_id: str) -> bool:
        """Whether an article's impact is final and the data has passed its correction horizon."""
        entry = self._articles.get(article_id)
        if entry is None or entry.last is None or not entry.last.final:
            return False
        return self.latest_ms >= entry.last.anchor_ms + _LAST_WINDOW_MS + CORRECTION_HORIZON_MS

    def forget_if_done(self, article_id: str) -> bool:
        """Stop following an article that is :meth:`done`; return whether it was dropped."""
        if not self.done(article_id):
            return False
        self._articles.remove(article_id)
        return True

    @property
    def latest_ms(self) -> int:
        value = self._latest.value()
        return _NONE if value is None else value

    # -- computation ----------------------------------------------------------------------------

    def compute(self, article_id: str, entry: Followed) -> NewsImpact:
        """The impact from the state, with the inputs :class:`~backend.signals.impact.ImpactTracker` uses."""
        anchor, open_ms, _, _ = session_anchor(entry.published_ms)
        candles = []
        for start in ([entry.base_ms] if entry.base_ms != _NONE else []) + \
                list(range(anchor, anchor + _LAST_WINDOW_MS, MINUTE_MS)):
            row = self._minutes.get(start)  # the base may have been pruned (an article followed for a week)
            if row is not None:
                candles.append(Candle(self.symbol, Timeframe.M1, start, *row))
        latest = self._latest.value()
        return compute_impact(article_id, self.symbol, entry.published_ms, candles, clock_ms=latest,
                              sessions=self._sessions_before(open_ms))

    @staticmethod
    def _unaffected(entry: Followed, start_ms: int) -> bool:
        """A final impact and a candle after its last window: nothing it was computed from can change.

        Its windows use candles inside them, its base a candle before the publication, its
        baseline earlier sessions; and a final window stays final. So the job does not redo every
        followed article's figures on each new candle of the symbol (late or corrected candles
        inside or before the windows still recompute).
        """
        last = entry.last
        return last is not None and last.final and start_ms >= last.anchor_ms + _LAST_WINDOW_MS

    @staticmethod
    def _inputs_pruned(entry: Followed, latest: int) -> bool:
        """A final impact whose candles have left the state since: recomputing would lose figures."""
        if entry.last is None or not entry.last.final:
            return False
        oldest = entry.last.anchor_ms if entry.base_ms == _NONE else min(entry.base_ms, entry.last.anchor_ms)
        return oldest < latest - RECENT_MS

    def _emit_if_changed(self, article_id: str, entry: Followed) -> NewsImpact | None:
        impact = self.compute(article_id, entry)
        changed = impact != entry.last
        entry.last = impact
        self._articles.put(article_id, entry)  # state values are copies: write back
        return impact if changed else None

    def _base_before(self, minute_ms: int) -> int:
        """Start of the last stored 1m candle before ``minute_ms`` (a scan, once per new article)."""
        return max((s for s in self._minutes.keys() if s < minute_ms), default=_NONE)

    def _sessions_before(self, open_ms: int) -> Iterator[SessionVolume]:
        for day_open, _ in previous_sessions(open_ms):
            stored = self._sessions.get(day_open)
            if stored is not None:
                yield SessionVolume(day_open, *stored)

    def _record_session_volume(self, candle: Candle) -> None:
        open_ms, close_ms = session_bounds(ny_date(candle.start_ms))
        if not open_ms <= candle.start_ms < close_ms or candle.start_ms < self.latest_ms - SESSIONS_MS:
            return  # outside the regular session (or a weekend/holiday: the bounds are still a day's)
        stored = self._sessions.get(open_ms)
        size = (close_ms - open_ms) // MINUTE_MS
        volumes, present = (list(stored[0]), list(stored[1])) if stored else ([0.0] * size, [False] * size)
        i = (candle.start_ms - open_ms) // MINUTE_MS
        volumes[i], present[i] = candle.volume, True
        self._sessions.put(open_ms, (tuple(volumes), tuple(present)))

    def _prune(self, latest: int) -> None:
        for start in [s for s in self._minutes.keys() if s < latest - RECENT_MS]:
            self._minutes.remove(start)
        for open_ms in [o for o in self._sessions.keys() if o < latest - SESSIONS_MS]:
            self._sessions.remove(open_ms)
