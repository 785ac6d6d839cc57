"""News impact: the definitions on hand-checked numbers, incremental filling, bad input, and restarts."""

from __future__ import annotations

import statistics
from datetime import date

import pytest
from signal_builders import DAY, PREVIOUS_DAYS, article, minute_candle, ny_ms, session

from backend.model import MINUTE_MS, impact_from_json, impact_to_json
from backend.signals.impact import ImpactTracker, compute_impact, session_anchor
from backend.signals.impact_store import ImpactStore, StoreCandleHistory
from backend.stores.sqlite import SqliteStore

SYMBOL = "AMZN"
BASE_VOLUMES = (1000.0, 1200.0, 900.0, 1100.0, 1050.0)


def history(days=PREVIOUS_DAYS, volumes=BASE_VOLUMES):
    """Complete previous sessions with different volume levels (so the baseline has a spread)."""
    out = []
    for day, volume in zip(days, volumes):
        out += session(SYMBOL, day, price=90.0, volume=volume)
    return out


def window_volume(candles, day: date, hh: int, mm: int, minutes: int) -> float:
    start = ny_ms(day, hh, mm)
    return sum(c.volume for c in candles if start <= c.start_ms < start + minutes * MINUTE_MS)


# -- definitions --------------------------------------------------------------------------------


def test_returns_range_and_volume_z_match_the_definitions():
    today = session(SYMBOL, DAY, price=100.0, step=0.01, volume=2000.0, until=(10, 10))
    candles = history() + today
    published = ny_ms(DAY, 10, 0, 30)  # publication minute 10:00; base = close of the 09:59 candle
    impact = compute_impact("a1", SYMBOL, published, candles)

    base = next(c for c in today if c.start_ms == ny_ms(DAY, 9, 59))
    assert impact.base_price == base.close and impact.base_ms == base.start_ms
    assert impact.anchor_ms == ny_ms(DAY, 10, 0) and not impact.out_of_hours
    assert impact.baseline_sessions == 5

    for minutes in (1, 5):
        w = impact.window(minutes)
        span = [c for c in today if ny_ms(DAY, 10, 0) <= c.start_ms < ny_ms(DAY, 10, 0) + minutes * MINUTE_MS]
        assert w.final and w.minutes_with_data == minutes and w.notes == ()
        assert w.return_pct == pytest.approx((span[-1].close / base.close - 1) * 100)
        assert w.range_pct == pytest.approx((max(c.high for c in span) - min(c.low for c in span))
                                            / span[0].open * 100)
        assert w.volume == sum(c.volume for c in span)
        baseline = [window_volume(candles, d, 10, 0, minutes) for d in PREVIOUS_DAYS]
        expected_z = (w.volume - statistics.fmean(baseline)) / statistics.stdev(baseline)
        assert w.volume_z == pytest.approx(expected_z)
        print(f"+{minutes}m: return {w.return_pct:.4f}%  range {w.range_pct:.4f}%  volume z {w.volume_z:.2f}")

    # 10:15 and 11:00 have not been reached: no candle at or after their ends yet.
    for minutes in (15, 60):
        w = impact.window(minutes)
        assert not w.final and w.return_pct is None and w.volume_z is None and "pending" in w.notes[0]
    assert not impact.final
    assert impact.headline.minutes == 5


def test_baseline_uses_only_the_latest_sessions_and_needs_three():
    today = session(SYMBOL, DAY, until=(10, 3))
    published = ny_ms(DAY, 10, 0)
    two = compute_impact("a", SYMBOL, published, history()[-2 * 390:] + today)
    w = two.window(1)
    assert w.final and w.volume is not None and w.volume_z is None
    assert any("2 earlier session(s)" in n for n in w.notes)
    three = compute_impact("a", SYMBOL, published, history() + today, baseline_sessions=3)
    baseline = [window_volume(history(), d, 10, 0, 1) for d in PREVIOUS_DAYS[-3:]]
    assert three.baseline_sessions == 3
    assert three.window(1).volume_z == pytest.approx(
        (three.window(1).volume - statistics.fmean(baseline)) / statistics.stdev(baseline))


# -- bad input ----------------------------------------------------------------------------------


def test_article_published_before_the_open_is_measured_from_the_open_against_the_last_close():
    today = session(SYMBOL, DAY, price=104.0, until=(9, 40))
    candles = history() + today
    impact = compute_impact("pre", SYMBOL, ny_ms(DAY, 7, 12), candles)
    last_close = history()[-1]  # Friday 15:59
    assert impact.out_of_hours and impact.anchor_ms == ny_ms(DAY, 9, 30)
    assert impact.base_ms == last_close.start_ms
    assert impact.window(1).return_pct == pytest.approx((today[0].close / last_close.close - 1) * 100)
    assert "market was closed" in impact.notes[0]
    assert impact.window(5).final and not impact.window(15).final


def test_weekend_article_waits_for_monday_and_late_article_loses_windows_past_the_close():
    saturday = ny_ms(date(2025, 2, 1), 11, 0)
    assert session_anchor(saturday)[0] == ny_ms(DAY, 9, 30)
    pending = compute_impact("sat", SYMBOL, saturday, history())
    assert pending.out_of_hours and pending.base_ms == history()[-1].start_ms
    assert not any(w.final for w in pending.windows)

    friday = PREVIOUS_DAYS[-1]
    late = compute_impact("late", SYMBOL, ny_ms(friday, 15, 50), history() + session(SYMBOL, DAY))
    assert late.window(5).final and late.window(5).return_pct is not None
    for minutes in (15, 60):
        w = late.window(minutes)
        assert w.final and w.return_pct is None and w.volume is None
        assert "closes at 16:00, 10 min into" in w.notes[0]
    assert late.final


def test_article_before_any_candle_has_no_return_but_has_range_and_volume():
    today = session(SYMBOL, DAY, until=(10, 30))
    impact = compute_impact("first", SYMBOL, ny_ms(DAY, 9, 30, 10), today)
    assert impact.base_price is None and impact.base_ms is None
    assert "no price before publication" in impact.notes[0]
    w = impact.window(5)
    assert w.final and w.return_pct is None and w.range_pct is not None and w.volume > 0
    assert "return: no price before publication" in w.notes
    assert any("0 earlier session(s)" in n for n in w.notes)  # no history, no z-score


def test_gaps_leave_empty_windows_empty_and_partial_windows_annotated():
    # Minutes 10:00-10:04 (indexes 30..34) are missing, and 10:06, 10:07 (36, 37).
    today = session(SYMBOL, DAY, until=(10, 30), skip=frozenset({30, 31, 32, 33, 34, 36, 37}))
    impact = compute_impact("gap", SYMBOL, ny_ms(DAY, 10, 0), history() + today)
    w5 = impact.window(5)
    assert w5.final and w5.minutes_with_data == 0
    assert (w5.return_pct, w5.range_pct, w5.volume, w5.volume_z) == (None, None, None, None)
    assert "no trades or a feed gap" in w5.notes[0]
    w15 = impact.window(15)
    assert w15.final and w15.minutes_with_data == 8 and "7 of 15 minutes have no candle" in w15.notes
    assert w15.return_pct is not None and w15.volume_z is not None


# -- incremental tracking and persistence -------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def feed(tracker: ImpactTracker, store: SqliteStore, candles, articles=()):
    store.upsert_candles(candles)
    return tracker.apply(candles, list(articles))


def test_windows_fill_in_as_candles_arrive(store):
    tracker = ImpactTracker(StoreCandleHistory(store))
    feed(tracker, store, history())
    today = session(SYMBOL, DAY, until=(11, 5))
    before, after = [c for c in today if c.start_ms < ny_ms(DAY, 10, 0)], \
        [c for c in today if c.start_ms >= ny_ms(DAY, 10, 0)]
    feed(tracker, store, before)
    [first] = feed(tracker, store, [], [article("news", ny_ms(DAY, 10, 0, 5), SYMBOL)])
    assert not any(w.final for w in first.windows) and first.base_price == before[-1].close

    finals_by_minute, latest = {}, first
    for c in after:
        changed = feed(tracker, store, [c])
        if changed:
            [latest] = changed
            finals_by_minute[c.start_ms] = [w.minutes for w in latest.windows if w.final]
    # Each window becomes final with the first candle at or after its end — and nothing changes in between.
    assert finals_by_minute == {
        ny_ms(DAY, 10, 1): [1], ny_ms(DAY, 10, 5): [1, 5], ny_ms(DAY, 10, 15): [1, 5, 15],
        ny_ms(DAY, 11, 0): [1, 5, 15, 60],
    }
    assert latest == compute_impact("news", SYMBOL, ny_ms(DAY, 10, 0, 5), history() + today)
    assert latest.final and latest.window(60).volume_z is not None
    assert len(tracker) == 1  # final, but still within the correction horizon
    feed(tracker, store, session(SYMBOL, DAY)[len(today):])  # the rest of the day
    assert len(tracker) == 0


def test_a_correction_inside_a_final_window_updates_the_impact(store):
    tracker = ImpactTracker(StoreCandleHistory(store))
    today = session(SYMBOL, DAY, until=(10, 20))
    feed(tracker, store, history() + today)
    [impact] = feed(tracker, store, [], [article("c", ny_ms(DAY, 10, 0), SYMBOL)])
    old = impact.window(1).return_pct
    corrected = minute_candle(SYMBOL, ny_ms(DAY, 10, 0), close=today[30].close * 1.02, volume=5000)
    [updated] = feed(tracker, store, [corrected])
    assert updated.window(1).return_pct == pytest.approx((corrected.close / impact.base_price - 1) * 100)
    assert updated.window(1).return_pct != old


def test_impacts_survive_a_restart_and_finish_as_if_nothing_happened(tmp_path):
    path = tmp_path / "store.sqlite"
    today = session(SYMBOL, DAY, until=(11, 5))
    published = ny_ms(DAY, 10, 0, 40)
    split = ny_ms(DAY, 10, 7)

    store = SqliteStore(path)
    impacts, tracker = ImpactStore(store), ImpactTracker(StoreCandleHistory(store))
    impacts.upsert(feed(tracker, store, history() + [c for c in today if c.start_ms < split],
                        [article("r", published, SYMBOL, "AAPL")]))
    mid = impacts.for_article("r")
    assert [i.symbol for i in mid] == ["AAPL", "AMZN"]
    assert [w.final for w in mid[1].windows] == [True, True, False, False]
    store.close()

    store = SqliteStore(path)  # restart
    impacts, tracker = ImpactStore(store), ImpactTracker(StoreCandleHistory(store))
    unfinished = impacts.unfinished()
    assert {i.key for i in unfinished} == {("r", "AMZN"), ("r", "AAPL")}
    tracker.restore(unfinished)
    impacts.upsert(feed(tracker, store, [c for c in today if c.start_ms >= split]))
    [aapl, amzn] = impacts.for_article("r")
    assert amzn == compute_impact("r", SYMBOL, published, history() + today) and amzn.final
    assert aapl.base_price is None and not aapl.final  # no AAPL candle ever came: pending, no numbers
    assert impacts.load(["AMZN"]) == [amzn] and impacts.load(start_ms=published + 1) == []
    store.close()


def test_json_round_trip_keeps_every_field():
    impact = compute_impact("j", SYMBOL, ny_ms(DAY, 10, 0), history() + session(SYMBOL, DAY, until=(10, 20)))
    assert impact_from_json(impact_to_json(impact)) == impact
