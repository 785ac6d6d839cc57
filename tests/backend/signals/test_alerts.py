"""Alerts: each rule fires on the data it watches and only then; cool-downs hold; bad rules are rejected."""

from __future__ import annotations

import pytest
from signal_builders import DAY, PREVIOUS_DAYS, article, minute_candle, ny_ms, session

from backend.model import MINUTE_MS
from backend.signals.alerts import (
    DEFAULT_RULES,
    AlertEngine,
    AlertRule,
    AlertRuleError,
    RuleKind,
    rules_from_settings,
)
from backend.signals.impact import ImpactTracker
from backend.signals.impact_store import StoreCandleHistory
from backend.stores.sqlite import SqliteStore

SYMBOL = "TSLA"


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def make_engine(store, *rules, max_age_ms=10 * MINUTE_MS):
    return AlertEngine(list(rules), StoreCandleHistory(store), max_age_ms=max_age_ms)


def run(engine, store, candles, articles=(), impacts=(), live=True):
    store.upsert_candles(candles)
    return engine.apply(candles, list(articles), list(impacts), live=live)


def run_minutes(engine, store, candles, live=True):
    """Feed candles one minute at a time, as the live feed does; return every alert."""
    alerts = []
    for c in candles:
        alerts += run(engine, store, [c], live=live)
    return alerts


# -- price move ---------------------------------------------------------------------------------


def jump_session(percent: float, at=(10, 0), minutes_to_reach=3):
    """Flat at 100 until ``at``, then a climb of ``percent`` over a few minutes, then flat."""
    flat = session(SYMBOL, DAY, price=100.0, step=0.0, until=(11, 0))
    start = ny_ms(DAY, *at)
    out = []
    for c in flat:
        k = (c.start_ms - start) // MINUTE_MS + 1
        level = 100.0 * (1 + percent / 100 * min(max(k, 0), minutes_to_reach) / minutes_to_reach)
        out.append(minute_candle(SYMBOL, c.start_ms, round(level, 4), c.volume))
    return out


def test_price_move_fires_when_the_move_within_the_window_reaches_the_threshold(store):
    engine = make_engine(store, AlertRule(RuleKind.PRICE_MOVE, 2.0, 5, cooldown_s=3600))
    alerts = run_minutes(engine, store, jump_session(2.5))
    [alert] = alerts
    assert alert.symbol == SYMBOL and alert.rule.kind is RuleKind.PRICE_MOVE
    # 10:00 → +0.83%, 10:01 → +1.67%, 10:02 → +2.5% against the 09:57 close of 100: fires at 10:02.
    assert alert.at_ms == ny_ms(DAY, 10, 2) and alert.value == pytest.approx(2.5)
    assert alert.message == "TSLA +2.50% in 5 min (100.00 → 102.50)"
    print(alert.message)


def test_price_move_below_threshold_or_spread_beyond_the_window_does_not_fire(store):
    engine = make_engine(store, AlertRule(RuleKind.PRICE_MOVE, 2.0, 5))
    assert run_minutes(engine, store, jump_session(1.9)) == []
    slow = make_engine(store, AlertRule(RuleKind.PRICE_MOVE, 2.0, 5))
    # 2.5 % spread over 30 minutes is never 2 % within 5 minutes (the same minutes, rewritten).
    assert run_minutes(slow, store, jump_session(2.5, minutes_to_reach=30)) == []


def test_cool_down_holds_per_rule_and_symbol_and_counts_what_it_held_back(store):
    rule = AlertRule(RuleKind.PRICE_MOVE, 1.0, 1, cooldown_s=600)
    engine = make_engine(store, rule)
    open_ms = ny_ms(DAY, 9, 30)
    # A saw-tooth: every minute moves 2 % against the previous one, for 30 minutes.
    candles = [minute_candle(SYMBOL, open_ms + i * MINUTE_MS, 100.0 if i % 2 == 0 else 102.0, 1000)
               for i in range(30)]
    alerts = run_minutes(engine, store, candles)
    # 29 qualifying minutes; one alert, then quiet for 10 minutes, then the next (with the count held back).
    assert [a.at_ms for a in alerts] == [open_ms + MINUTE_MS, open_ms + 11 * MINUTE_MS, open_ms + 21 * MINUTE_MS]
    assert [a.suppressed for a in alerts] == [0, 9, 9]
    # Another symbol has its own cool-down (its minutes are recent: older events do not ring).
    other = [c._replace(symbol="NVDA") for c in candles[-3:]]
    assert [a.symbol for a in run_minutes(engine, store, other)] == ["NVDA"]


# -- volume z -----------------------------------------------------------------------------------


def test_volume_z_fires_on_a_volume_spike_against_the_same_time_of_day(store):
    history = []
    for day, volume in zip(PREVIOUS_DAYS, (1000.0, 1200.0, 900.0, 1100.0, 1050.0)):
        history += session(SYMBOL, day, volume=volume)
    engine = make_engine(store, AlertRule(RuleKind.VOLUME_Z, 3.0, 5, cooldown_s=3600))
    assert run(engine, store, history) == []  # old data: nothing rings
    normal = session(SYMBOL, DAY, volume=1100.0, until=(10, 0))
    assert run_minutes(engine, store, normal) == []
    spike = [c._replace(volume=c.volume * 6) for c in session(SYMBOL, DAY, volume=1100.0, until=(10, 10))[30:]]
    alerts = run_minutes(engine, store, spike)
    assert len(alerts) == 1 and alerts[0].value > 3.0
    # The first window holding a spiked minute completes when 10:01 begins; its window started 09:56.
    assert alerts[0].at_ms == ny_ms(DAY, 9, 56)
    print(alerts[0].message)


def test_volume_z_needs_a_baseline(store):
    engine = make_engine(store, AlertRule(RuleKind.VOLUME_Z, 0.1, 1))
    spike = [c._replace(volume=c.volume * 50) for c in session(SYMBOL, DAY, until=(10, 30))]
    assert run_minutes(engine, store, spike) == []  # no earlier sessions: no z-score, no alert


# -- news ---------------------------------------------------------------------------------------


def test_new_article_fires_once_per_article_and_symbol_and_not_for_old_news(store):
    engine = make_engine(store, AlertRule(RuleKind.NEW_ARTICLE, cooldown_s=0))
    run(engine, store, session(SYMBOL, DAY, until=(10, 0)))
    fresh = article("business/2025/feb/03/tesla-recall", ny_ms(DAY, 9, 58), SYMBOL, "F",
                    title="Tesla and Ford recall vehicles")
    alerts = run(engine, store, [], [fresh])
    assert sorted((a.symbol, a.article_id) for a in alerts) == [("F", fresh.id), (SYMBOL, fresh.id)]
    assert alerts[0].message.endswith(": Tesla and Ford recall vehicles")
    assert run(engine, store, [], [fresh]) == []  # republished (live blog update): not new
    stale = article("business/2025/feb/02/old", ny_ms(DAY, 8, 0), SYMBOL)  # a sweep's older page
    assert run(engine, store, [], [stale]) == []
    limited = make_engine(store, AlertRule(RuleKind.NEW_ARTICLE, symbols=frozenset({"F"})))
    assert [a.symbol for a in run(limited, store, [], [fresh])] == ["F"]


def test_impact_rule_fires_when_the_window_is_final_and_large_enough(store):
    engine = make_engine(store, AlertRule(RuleKind.IMPACT, 2.0, 5, cooldown_s=0))
    tracker = ImpactTracker(StoreCandleHistory(store))
    candles = jump_session(3.0, at=(10, 1))
    before = [c for c in candles if c.start_ms < ny_ms(DAY, 10, 0)]
    store.upsert_candles(before)
    tracker.apply(before, [])
    news = article("business/2025/feb/03/tesla-deliveries", ny_ms(DAY, 10, 0, 20), SYMBOL,
                   title="Tesla deliveries beat forecasts")
    alerts = run(engine, store, [], [news], tracker.apply([], [news]))
    for c in (c for c in candles if c.start_ms >= ny_ms(DAY, 10, 0)):
        store.upsert_candles([c])
        alerts += engine.apply([c], [], tracker.apply([c], []))
    [alert] = alerts
    assert alert.article_id == news.id and alert.at_ms == ny_ms(DAY, 10, 5)
    assert alert.value == pytest.approx(3.0)
    assert alert.message == "TSLA +3.00% 5 min after “Tesla deliveries beat forecasts”"


def test_nothing_rings_while_catching_up(store):
    engine = make_engine(store, AlertRule(RuleKind.PRICE_MOVE, 2.0, 5), AlertRule(RuleKind.NEW_ARTICLE))
    news = article("a", ny_ms(DAY, 10, 0), SYMBOL)
    candles = jump_session(3.0)
    assert run(engine, store, candles, [news], live=False) == []
    assert run(engine, store, [], [news]) == []  # already seen while catching up


# -- rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, message", [
    ({"kind": "price_jump", "threshold": 2, "minutes": 5}, "unknown alert kind 'price_jump'"),
    ({"kind": "price_move", "threshold": 0, "minutes": 5}, "price_move threshold (%) must be more than 0"),
    ({"kind": "price_move", "threshold": -1, "minutes": 5}, "must be more than 0 and at most 50, not -1"),
    ({"kind": "price_move", "threshold": 80, "minutes": 5}, "at most 50, not 80"),
    ({"kind": "price_move", "threshold": 2, "minutes": 0}, "price_move minutes must be at least 1"),
    ({"kind": "price_move", "threshold": 2, "minutes": 2.5}, "minutes must be a finite whole number"),
    ({"kind": "price_move", "threshold": float("nan"), "minutes": 5}, "threshold must be a finite number"),
    ({"kind": "price_move", "threshold": "2", "minutes": 5}, "threshold must be a finite number, not '2'"),
    ({"kind": "volume_z", "threshold": 3, "minutes": 90}, "volume_z minutes must be at least 1 and at most 60"),
    ({"kind": "impact", "threshold": 1, "minutes": 10}, "impact minutes must be one of the impact windows 1, 5, 15"),
    ({"kind": "new_article", "threshold": 1}, "a new_article rule takes no threshold or minutes"),
    ({"kind": "new_article", "cooldown_s": -5}, "cooldown_s must be at least 0"),
    ({"kind": "new_article", "cooldown_s": 10**6}, "at most 86400"),
    ({"kind": "new_article", "symbols": ["AAPL", "BAD1"]}, "symbols: ticker 'BAD1' is not valid"),
    ({"kind": "new_article", "symbols": "AAPL"}, "symbols must be a list of tickers"),
    ({"kind": "new_article", "colour": "red"}, "unknown alert rule field(s): colour"),
    ({"threshold": 2}, "an alert rule needs a kind"),
])
def test_bad_rules_are_rejected_with_a_clear_message(raw, message):
    with pytest.raises(AlertRuleError) as info:
        rules_from_settings([{"kind": "new_article"}, raw])
    assert str(info.value).startswith("alert rule 2: ") and message in str(info.value)


def test_rules_round_trip_through_settings_and_describe_themselves():
    raw = [r.to_dict() for r in DEFAULT_RULES]
    assert rules_from_settings(raw) == list(DEFAULT_RULES)
    assert [r.describe() for r in DEFAULT_RULES] == [
        "Price move ≥ 2% within 5 min", "Volume z-score ≥ 4 over 5 min", "New article on a watched symbol",
        "Article impact ≥ 1.5% at +15 min"]
    scoped = AlertRule.from_dict({"kind": "price_move", "threshold": 1, "minutes": 3, "symbols": ["aapl"]})
    assert scoped.symbols == {"AAPL"} and scoped.describe().endswith("(AAPL)") and scoped.id == "price_move:1:3:AAPL"
    with pytest.raises(AlertRuleError, match="must be a list"):
        rules_from_settings({"kind": "price_move"})
