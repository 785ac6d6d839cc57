"""A simulated trading day of Guardian news: 20 symbols on a 500-call developer key, on a virtual clock.

The real poller, pacing and matcher run (see :mod:`fakes.news_sim`); only time is simulated.
"""

from __future__ import annotations

from fakes.news_sim import simulate_day


def test_twenty_symbols_one_sweep_each_time_within_budget_and_rate_and_news_within_90_s():
    day = simulate_day(daily_budget=500)
    print(f"\n{day.row()}")
    assert day.symbols == 20
    assert day.calls <= 500 and day.calls >= 400  # the budget is spent, not exceeded
    assert day.min_call_gap_s >= 1.0  # never more than 1 call per second
    assert day.sweeps_covering_all == day.sweeps == day.calls  # one call per sweep, covering every symbol
    assert day.missed == 0 and day.routed_noise == 0
    assert len(day.session_latencies_s) >= 30
    assert day.pct(day.session_latencies_s, 95) <= 90.0  # the target during the New York session


def test_failed_calls_back_off_and_the_day_stays_within_the_limits():
    """429 with Retry-After, 5xx and a malformed body at the start of the day: retried, nothing lost."""
    day = simulate_day(daily_budget=500, faults=["429:30", "500", "malformed", "503", "429"])
    gaps = [b - a for a, b in zip(day.call_times, day.call_times[1:])]
    assert gaps[0] >= 30.0  # Retry-After: 30 honoured
    assert all(g >= 1.0 for g in gaps[1:5])  # 5xx and malformed bodies back off (2 s doubling, jittered)
    assert day.calls <= 500 and day.min_call_gap_s >= 1.0
    assert day.missed == 0 and day.routed_noise == 0


def test_the_per_query_design_needs_twenty_times_the_calls_for_the_same_latency():
    """Each symbol its own request (the design before issue 15), with the same pacing code."""
    slow = simulate_day(daily_budget=500, per_query=True)
    assert slow.calls <= 500 and slow.pct(slow.session_latencies_s, 95) > 15 * 60  # a quarter of an hour or worse
