"""Alerts: rules a trader sets, checked on every batch, with a cool-down so that nothing storms.

Four kinds of :class:`AlertRule` (``kind``, ``threshold``, ``minutes``):

* ``price_move`` — the price moved at least ``threshold`` % within ``minutes`` minutes:
  the latest 1m close against the close of the candle that started ``minutes`` earlier
  (or the last one before it, on the same New York day).
* ``volume_z`` — the volume of the last ``minutes`` completed minutes has a z-score of at
  least ``threshold`` against the time-of-day baseline (:mod:`backend.signals.baseline`).
  Checked when a symbol's minute completes; only inside the regular session.
* ``new_article`` — a new article was matched to a watched symbol (``threshold`` and
  ``minutes`` unused, 0).
* ``impact`` — an article's ``minutes``-minute window (1, 5, 15 or 60) became final with
  an absolute return of at least ``threshold`` % (:mod:`backend.signals.impact`).

Every rule has a ``cooldown_s``: after it fires for a symbol it stays quiet for that
symbol for that long (event time, so replays and the demo behave like live data), and
the suppressed count shows in the next alert. A rule may be limited to ``symbols``.
Rules come from settings as dicts (:meth:`AlertRule.from_dict`); a bad value raises
:class:`AlertRuleError` saying which field and why.

Freshness: an alert is raised only for an event at most ``max_age_ms`` older than the
newest event seen (so a first Guardian sweep of yesterday's news, or a late
correction, does not ring), and only when :meth:`AlertEngine.apply` is called with
``live=True`` (the pipeline passes False while a source is still catching up on history).

For the GUI: :class:`Alert` s arrive in ``PipelineUpdate.alerts`` (oldest first); show
``alert.message`` in the tray and the alert log; ``alert.rule.describe()`` names the rule.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from backend.model import MINUTE_MS, Article, Candle, NewsImpact, Timeframe, validate_ticker
from backend.signals.baseline import (
    BASELINE_SESSIONS,
    MIN_BASELINE_SESSIONS,
    SessionVolumeCache,
    baseline_volumes,
    volume_zscore,
)
from backend.signals.impact import WINDOW_MINUTES, CandleHistory, session_anchor
from backend.timeutil import ny_day_start

DEFAULT_MAX_AGE_MS = 10 * MINUTE_MS
MAX_COOLDOWN_S = 86_400
MAX_PERCENT = 50.0
MAX_Z = 50.0
SESSION_MINUTES = 390
TITLES_KEPT = 5000


class AlertRuleError(ValueError):
    """An alert rule has a value it cannot take; the message says which and why."""


class RuleKind(enum.StrEnum):
    """What a rule watches; each member is its settings name."""

    PRICE_MOVE = "price_move"
    VOLUME_Z = "volume_z"
    NEW_ARTICLE = "new_article"
    IMPACT = "impact"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule (see the module docstring); validated on construction.

    Attributes:
        kind: What the rule watches.
        threshold: % for ``price_move`` and ``impact``, a z-score for ``volume_z``, 0 for ``new_article``.
        minutes: The window: 1–390 for ``price_move``, 1–60 for ``volume_z``, one of 1/5/15/60
            for ``impact``, 0 for ``new_article``.
        cooldown_s: Quiet time per symbol after the rule fires, 0–86400 seconds.
        symbols: Only these symbols (empty: every watched symbol).
    """

    kind: RuleKind
    threshold: float = 0.0
    minutes: int = 0
    cooldown_s: int = 600
    symbols: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        try:
            kind = RuleKind(self.kind)
        except ValueError:
            raise AlertRuleError(f"unknown alert kind {self.kind!r}; choose one of "
                                 f"{', '.join(k.value for k in RuleKind)}") from None
        object.__setattr__(self, "kind", kind)
        _check_number("threshold", self.threshold, float)
        _check_number("minutes", self.minutes, int)
        _check_number("cooldown_s", self.cooldown_s, int)
        if kind is RuleKind.NEW_ARTICLE:
            if self.threshold != 0 or self.minutes != 0:
                raise AlertRuleError("a new_article rule takes no threshold or minutes (leave them 0)")
        elif kind is RuleKind.VOLUME_Z:
            _check_range("volume_z threshold (z-score)", self.threshold, 0, MAX_Z, open_low=True)
            _check_range("volume_z minutes", self.minutes, 1, 60)
        else:
            _check_range(f"{kind.value} threshold (%)", self.threshold, 0, MAX_PERCENT, open_low=True)
            if kind is RuleKind.PRICE_MOVE:
                _check_range("price_move minutes", self.minutes, 1, SESSION_MINUTES)
            elif self.minutes not in WINDOW_MINUTES:
                raise AlertRuleError(f"impact minutes must be one of the impact windows "
                                     f"{', '.join(map(str, WINDOW_MINUTES))}, not {self.minutes}")
        _check_range("cooldown_s", self.cooldown_s, 0, MAX_COOLDOWN_S)
        if isinstance(self.symbols, str) or not isinstance(self.symbols, Iterable):
            raise AlertRuleError("symbols must be a list of tickers")
        try:
            symbols = frozenset(validate_ticker(str(s)) for s in self.symbols)
        except ValueError as exc:
            raise AlertRuleError(f"symbols: {exc}") from None
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def id(self) -> str:
        """A stable name for the rule (cool-downs are kept per rule id and symbol)."""
        scope = ",".join(sorted(self.symbols)) or "*"
        return f"{self.kind.value}:{self.threshold:g}:{self.minutes}:{scope}"

    def applies_to(self, symbol: str) -> bool:
        return not self.symbols or symbol in self.symbols

    def describe(self) -> str:
        """The rule in words, e.g. ``Price move ≥ 2% within 5 min``."""
        text = {
            RuleKind.PRICE_MOVE: f"Price move ≥ {self.threshold:g}% within {self.minutes} min",
            RuleKind.VOLUME_Z: f"Volume z-score ≥ {self.threshold:g} over {self.minutes} min",
            RuleKind.NEW_ARTICLE: "New article on a watched symbol",
            RuleKind.IMPACT: f"Article impact ≥ {self.threshold:g}% at +{self.minutes} min",
        }[self.kind]
        return text + (f" ({', '.join(sorted(self.symbols))})" if self.symbols else "")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "AlertRule":
        """Build from the settings form ``{"kind", "threshold", "minutes", "cooldown_s", "symbols"}``."""
        if not isinstance(raw, Mapping):
            raise AlertRuleError(f"an alert rule must be an object, not {type(raw).__name__}")
        unknown = set(raw) - {"kind", "threshold", "minutes", "cooldown_s", "symbols"}
        if unknown:
            raise AlertRuleError(f"unknown alert rule field(s): {', '.join(sorted(unknown))}")
        if "kind" not in raw:
            raise AlertRuleError("an alert rule needs a kind")
        return cls(raw["kind"], raw.get("threshold", 0.0), raw.get("minutes", 0),
                   raw.get("cooldown_s", 600), raw.get("symbols", ()))  # validated into a frozenset

    def to_dict(self) -> dict[str, Any]:
        """The settings form (JSON-ready)."""
        return {"kind": self.kind.value, "threshold": self.threshold, "minutes": self.minutes,
                "cooldown_s": self.cooldown_s, "symbols": sorted(self.symbols)}


def _check_number(name: str, value: Any, kind: type) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        raise AlertRuleError(f"{name} must be a finite {'whole ' if kind is int else ''}number, not {value!r}")


def _check_range(name: str, value: float, low: float, high: float, open_low: bool = False) -> None:
    if value < low or (open_low and value == low) or value > high:
        bound = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise AlertRuleError(f"{name} must be {bound} and at most {high:g}, not {value:g}")


#: The rules a new user gets (proposed as the ``alert_rules`` setting's default).
DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(RuleKind.PRICE_MOVE, 2.0, 5, cooldown_s=900),
    AlertRule(RuleKind.VOLUME_Z, 4.0, 5, cooldown_s=900),
    AlertRule(RuleKind.NEW_ARTICLE, cooldown_s=60),
    AlertRule(RuleKind.IMPACT, 1.5, 15, cooldown_s=0),
)


def rules_from_settings(raw: Any) -> list[AlertRule]:
    """Validate the settings' list of rule dicts; raise :class:`AlertRuleError` naming the bad rule."""
    if not isinstance(raw, (list, tuple)):
        raise AlertRuleError("alert rules must be a list")
    rules = []
    for n, item in enumerate(raw, 1):
        try:
            rules.append(item if isinstance(item, AlertRule) else AlertRule.from_dict(item))
        except AlertRuleError as exc:
            raise AlertRuleError(f"alert rule {n}: {exc}") from None
    return rules


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert.

    Attributes:
        rule: The rule that fired.
        symbol: The ticker.
        message: One line for the tray and the alert log.
        at_ms: Event time the alert is about (candle start, publication, window end), UTC ms.
        article_id: The article, for ``new_article`` and ``impact`` alerts.
        value: The measured figure (move %, z-score, return %), None for ``new_article``.
        suppressed: How many alerts of this rule and symbol the cool-down held back before this one.
    """

    rule: AlertRule
    symbol: str
    message: str
    at_ms: int
    article_id: str | None = None
    value: float | None = None
    suppressed: int = 0


@dataclass(slots=True)
class _Cooldown:
    last_ms: int = -(1 << 62)
    suppressed: int = 0


@dataclass(slots=True)
class _SymbolState:
    latest_ms: int = -(1 << 62)  # start of the newest 1m candle seen


class AlertEngine:
    """Checks the rules on each batch (candles, articles, impacts) and returns new alerts.

    Args:
        rules: The rules (see :data:`DEFAULT_RULES`).
        history: Stored 1m candles (price references and volume baselines).
        max_age_ms: Events older than this behind the newest event seen do not alert.
    """

    def __init__(self, rules: Sequence[AlertRule], history: CandleHistory,
                 max_age_ms: int = DEFAULT_MAX_AGE_MS) -> None:
        self._rules = list(rules)
        self._history = history
        self._max_age_ms = max_age_ms
        self._sessions = SessionVolumeCache(history.minute_candles, history.first_minute_start)
        self._cooldowns: dict[tuple[str, str], _Cooldown] = {}
        self._symbols: dict[str, _SymbolState] = {}
        self._seen_articles: set[tuple[str, str]] = set()
        self._fired_impacts: set[tuple[str, str, str]] = set()
        self._titles: OrderedDict[str, str] = OrderedDict()  # recent article id -> title, for impact messages
        self._clock_ms = -(1 << 62)

    @property
    def rules(self) -> list[AlertRule]:
        return list(self._rules)

    def set_rules(self, rules: Sequence[AlertRule], max_age_ms: int | None = None) -> None:
        """Replace the rules (cool-downs of rules that stay are kept) and, if given, the freshness limit."""
        self._rules = list(rules)
        if max_age_ms is not None:
            self._max_age_ms = max_age_ms

    def apply(self, candles: Sequence[Candle], articles: Sequence[Article] = (),
              impacts: Sequence[NewsImpact] = (), live: bool = True) -> list[Alert]:
        """Check one batch (its candles already in the history); return the alerts raised, oldest first."""
        m1 = Timeframe.M1
        minutes = [c for c in candles if c.timeframe is m1]
        if minutes:
            self._clock_ms = max(self._clock_ms, max(c.start_ms for c in minutes) + MINUTE_MS)
        for a in articles:
            self._clock_ms = max(self._clock_ms, a.published_ms)
        alerts: list[Alert] = []
        alerts += self._check_articles(articles, live)
        alerts += self._check_candles(minutes, live)
        alerts += self._check_impacts(impacts, live)
        alerts.sort(key=lambda a: a.at_ms)
        return alerts

    # -- rules --------------------------------------------------------------------------------

    def _check_articles(self, articles: Sequence[Article], live: bool) -> list[Alert]:
        out = []
        for article in articles:
            self._titles[article.id] = article.title
            if len(self._titles) > TITLES_KEPT:
                self._titles.popitem(last=False)
            for symbol in sorted(article.symbols):
                key = (article.id, symbol)
                if key in self._seen_articles:
                    continue  # a republished live blog is not new
                self._seen_articles.add(key)
                for rule in self._active(RuleKind.NEW_ARTICLE, symbol):
                    out += self._fire(rule, symbol, article.published_ms, live,
                                      f"{symbol}: {article.title}", article.id)
        return out

    def _check_candles(self, minutes: Sequence[Candle], live: bool) -> list[Alert]:
        newest: dict[str, Candle] = {}
        for c in minutes:
            if c.symbol not in newest or c.start_ms >= newest[c.symbol].start_ms:
                newest[c.symbol] = c
        out = []
        for symbol, candle in newest.items():
            state = self._symbols.setdefault(symbol, _SymbolState())
            if candle.start_ms < state.latest_ms:
                continue  # a late correction of an older minute
            advanced = candle.start_ms > state.latest_ms
            previous_latest, state.latest_ms = state.latest_ms, candle.start_ms
            for rule in self._active(RuleKind.PRICE_MOVE, symbol):
                if self._could_fire(candle.start_ms, live):
                    out += self._check_price_move(rule, candle, live)
            if advanced and previous_latest > -(1 << 62):
                for rule in self._active(RuleKind.VOLUME_Z, symbol):
                    if self._could_fire(candle.start_ms - rule.minutes * MINUTE_MS, live):
                        out += self._check_volume(rule, symbol, candle.start_ms, live)
        return out

    def _check_price_move(self, rule: AlertRule, candle: Candle, live: bool) -> list[Alert]:
        reference = self._history.minute_candle_before(candle.symbol, candle.start_ms - rule.minutes * MINUTE_MS + 1)
        if reference is None or ny_day_start(reference.start_ms) != ny_day_start(candle.start_ms) \
                or reference.close <= 0:
            return []
        move = (candle.close / reference.close - 1.0) * 100.0
        if abs(move) < rule.threshold:
            return []
        return self._fire(rule, candle.symbol, candle.start_ms, live,
                          f"{candle.symbol} {move:+.2f}% in {rule.minutes} min "
                          f"({reference.close:.2f} → {candle.close:.2f})", value=move)

    def _check_volume(self, rule: AlertRule, symbol: str, minute_ms: int, live: bool) -> list[Alert]:
        """The ``rule.minutes`` minutes before ``minute_ms`` are complete: compare their volume with the baseline."""
        start = minute_ms - rule.minutes * MINUTE_MS
        anchor, open_ms, close_ms, out_of_hours = session_anchor(start)
        if out_of_hours or anchor != start or minute_ms > close_ms:
            return []  # the window is not wholly inside a regular session
        volume = sum(c.volume for c in self._history.minute_candles(symbol, start, minute_ms))
        baseline = baseline_volumes(self._sessions.sessions_before(symbol, open_ms), start - open_ms,
                                    (rule.minutes,), BASELINE_SESSIONS)[rule.minutes]
        if len(baseline) < MIN_BASELINE_SESSIONS:
            return []
        z = volume_zscore(volume, baseline)
        if z is None or z < rule.threshold:
            return []
        usual = sum(baseline) / len(baseline)
        return self._fire(rule, symbol, start, live,
                          f"{symbol} volume z {z:.1f} over the last {rule.minutes} min "
                          f"({volume:,.0f} shares vs {usual:,.0f} usual at this time)", value=z)

    def _check_impacts(self, impacts: Sequence[NewsImpact], live: bool) -> list[Alert]:
        out = []
        for impact in impacts:
            for rule in self._active(RuleKind.IMPACT, impact.symbol):
                key = (rule.id, impact.article_id, impact.symbol)
                if key in self._fired_impacts:
                    continue
                window = impact.window(rule.minutes)
                if not window.final or window.return_pct is None or abs(window.return_pct) < rule.threshold:
                    continue
                self._fired_impacts.add(key)
                title = self._titles.get(impact.article_id)
                about = f"“{_shorten(title)}”" if title else "an article"
                out += self._fire(rule, impact.symbol, window.end_ms, live,
                                  f"{impact.symbol} {window.return_pct:+.2f}% {rule.minutes} min after {about}",
                                  impact.article_id, window.return_pct)
        return out

    # -- plumbing -----------------------------------------------------------------------------

    def _active(self, kind: RuleKind, symbol: str) -> list[AlertRule]:
        return [r for r in self._rules if r.kind is kind and r.applies_to(symbol)]

    def _could_fire(self, at_ms: int, live: bool) -> bool:
        """Whether an alert about ``at_ms`` could be raised now (else its figures are not worth reading)."""
        return live and at_ms >= self._clock_ms - self._max_age_ms

    def _fire(self, rule: AlertRule, symbol: str, at_ms: int, live: bool, message: str,
              article_id: str | None = None, value: float | None = None) -> list[Alert]:
        if not self._could_fire(at_ms, live):
            return []
        cooldown = self._cooldowns.setdefault((rule.id, symbol), _Cooldown())
        if at_ms < cooldown.last_ms + rule.cooldown_s * 1000:
            cooldown.suppressed += 1
            return []
        alert = Alert(rule, symbol, message, at_ms, article_id, value, cooldown.suppressed)
        cooldown.last_ms, cooldown.suppressed = at_ms, 0
        return [alert]




def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
