"""The stream processor's impact state (what the Flink impact job runs per symbol) against the embedded tracker.

The job holds its state in Flink's MapState/ValueState; here the same class runs over
dicts, fed the same candles in a shuffled order (partitions of the candles topic do
not keep a symbol's minutes in order), and must end with the tracker's impacts.
"""

from __future__ import annotations

import copy
import random

import pytest
from signal_builders import DAY, PREVIOUS_DAYS, article, ny_ms, session

from backend.model import MINUTE_MS
from backend.signals.impact import ImpactTracker
from backend.signals.impact_store import StoreCandleHistory
from backend.signals.impact_stream import RECENT_MS, SESSIONS_MS, SymbolImpacts
from backend.timeutil import ny_date, session_bounds
from backend.stores.sqlite import SqliteStore

SYMBOL = "AMZN"


class DictMap(dict):
    """Flink's MapState calls on a dict (values copied, as Flink's state hands out copies)."""

    def get(self, key):
        return copy.copy(super().get(key))

    def put(self, key, value):
        self[key] = value

    def remove(self, key):
        del self[key]


class Value:
    """Flink's ValueState calls on an attribute."""

    def __init__(self):
        self.current = None

    def value(self):
        return self.current

    def update(self, value):
        self.current = value


def new_state() -> SymbolImpacts:
    return SymbolImpacts(SYMBOL, DictMap(), DictMap(), DictMap(), Value())


def market():
    """Four earlier sessions with different volume levels, and today's morning with a gap.

    Every article lies within the state's horizon (:data:`RECENT_MS`) of the newest candle.
    """
    candles = []
    for day, volume in zip(PREVIOUS_DAYS[1:], (1200.0, 900.0, 1100.0, 1050.0)):
        candles += session(SYMBOL, day, price=90.0, volume=volume)
    candles += session(SYMBOL, DAY, price=100.0, volume=2000.0, until=(11, 30), skip=frozenset({33, 34, 35}))
    articles = [
        article("in-session", ny_ms(DAY, 10, 0, 30), SYMBOL),
        article("gap", ny_ms(DAY, 10, 2, 0), SYMBOL),
        article("pre-market", ny_ms(DAY, 7, 45), SYMBOL),
        article("weekend", ny_ms(PREVIOUS_DAYS[-1], 18, 0) + 36 * 3_600_000, SYMBOL),
        article("before-any-candle", ny_ms(PREVIOUS_DAYS[1], 9, 0), SYMBOL),
        article("pending", ny_ms(DAY, 11, 0), SYMBOL),
        article("near-close", ny_ms(PREVIOUS_DAYS[-1], 15, 50), SYMBOL),
    ]
    return candles, articles


def tracker_impacts(tmp_path, candles, articles):
    store = SqliteStore(tmp_path / "oracle.db")
    store.upsert_candles(candles)
    store.flush()
    tracker = ImpactTracker(StoreCandleHistory(store))
    found = {i.key: i for i in tracker.apply(candles, articles)}
    store.close()
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_stream_state_ends_with_the_embedded_trackers_impacts_whatever_the_order(tmp_path, seed):
    candles, articles = market()
    expected = tracker_impacts(tmp_path, candles, articles)
    assert expected[("in-session", SYMBOL)].window(60).volume_z is not None  # the baseline is exercised
    state = new_state()
    events = [("candle", c) for c in candles] + [("article", a) for a in articles]
    random.Random(seed).shuffle(events)
    emitted = {}
    for kind, item in events:
        if kind == "candle":
            emitted.update((i.key, i) for i in state.on_candle(item))
        else:
            impact = state.on_article(item.id, item.published_ms)
            if impact is not None:
                emitted[impact.key] = impact
    assert emitted == expected


def test_a_republished_article_is_not_emitted_again_and_done_articles_are_forgotten():
    candles, articles = market()
    state = new_state()
    for c in candles:
        state.on_candle(c)
    first = state.on_article("in-session", articles[0].published_ms)
    assert first is not None and first.final
    assert state.on_article("in-session", articles[0].published_ms) is None  # unchanged: nothing to emit
    assert not state.forget_if_done("pending")
    assert state.forget_if_done("in-session")
    assert state.on_article("in-session", articles[0].published_ms) == first  # followed again, same numbers


def test_state_stays_bounded_to_recent_minutes():
    candles, _ = market()
    state = new_state()
    for c in candles:
        state.on_candle(c)
    minutes = state._minutes
    assert min(minutes) >= max(minutes) - RECENT_MS
    later = candles[-1]._replace(start_ms=candles[-1].start_ms + 30 * 24 * 60 * MINUTE_MS)
    state.on_candle(later)
    assert list(minutes) == [later.start_ms]
    assert len(state._sessions) == 6  # the earlier sessions, today's and the new one's: within SESSIONS_MS
    much_later = later._replace(start_ms=later.start_ms + SESSIONS_MS)
    state.on_candle(much_later)
    assert list(state._sessions) == [session_bounds(ny_date(much_later.start_ms))[0]]


def test_a_final_impact_is_not_recomputed_for_candles_after_its_windows_but_is_for_a_correction_inside(monkeypatch):
    candles, articles = market()
    state = new_state()
    in_session = articles[0]
    for c in candles:
        state.on_candle(c)
    first = state.on_article(in_session.id, in_session.published_ms)
    assert first.final
    window_end = first.windows[-1].end_ms
    computed = []
    real_compute = state.compute
    monkeypatch.setattr(state, "compute", lambda article_id, entry: computed.append(article_id) or
                        real_compute(article_id, entry))
    after = [c for c in candles if c.start_ms >= window_end]
    assert after
    for c in after:
        state.on_candle(c)
    assert in_session.id not in computed
    inside = next(c for c in candles if first.anchor_ms <= c.start_ms < window_end)
    changed = state.on_candle(inside._replace(close=inside.close * 1.5, high=inside.high * 1.5))
    assert in_session.id in computed
    assert [i.article_id for i in changed if i.article_id == in_session.id] == [in_session.id]
