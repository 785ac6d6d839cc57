"""Backoff, token bucket, daily budget and the Guardian poll interval."""

from __future__ import annotations

import asyncio
import random

import pytest

from backend.sources.backoff import Backoff, BackoffPolicy, TokenBucket
from backend.sources.guardian import parse_retry_after
from backend.sources.guardian_budget import DailyBudget, sweep_interval_s, weighted_ms

MON_0000 = 1738540800000  # Monday 2025-02-03 00:00 UTC
HOUR = 3_600_000


def test_backoff_grows_to_the_cap_with_bounded_jitter():
    b = Backoff(BackoffPolicy(1.0, 60.0, 2.0, 0.5), random.Random(3))
    delays = [b.next_delay() for _ in range(12)]
    for n, d in enumerate(delays):
        nominal = min(60.0, 2.0 ** n)
        assert nominal / 2 <= d <= nominal
    assert max(delays) <= 60 and delays[-1] >= 30
    b.reset()
    assert b.next_delay() <= 1.0
    with pytest.raises(ValueError):
        BackoffPolicy(0, 1)


def test_token_bucket_spaces_calls():
    now = [0.0]
    bucket = TokenBucket(1.0, 1.0, clock=lambda: now[0])
    assert bucket.try_take() and not bucket.try_take()
    assert bucket.wait_time() == pytest.approx(1.0)
    now[0] = 0.5
    assert not bucket.try_take() and bucket.wait_time() == pytest.approx(0.5)
    now[0] = 1.0
    assert bucket.try_take()
    fast = TokenBucket(200.0)

    async def take(n):
        for _ in range(n):
            await fast.acquire()

    asyncio.run(take(5))


def test_daily_budget_rolls_over_at_utc_midnight():
    budget = DailyBudget(500)
    budget.spend(MON_0000 + HOUR, 499)
    assert budget.remaining(MON_0000 + 2 * HOUR) == 1
    assert budget.remaining(MON_0000 + 24 * HOUR) == 500
    assert DailyBudget.from_json(500, {"day": "2025-02-03", "used": 7}).remaining(MON_0000) == 493
    assert DailyBudget.from_json(500, "garbage").remaining(MON_0000) == 500


def test_poll_interval_adapts_to_queries_and_budget():
    """Ten watch items on a fresh developer key: how often each is polled, and calls per hour."""
    session = MON_0000 + 15 * HOUR  # 10:00 New York
    night = MON_0000 + 3 * HOUR
    ten_session = sweep_interval_s(10, 500, session, market_weight=4.0)
    one_session = sweep_interval_s(1, 500, session, market_weight=4.0)
    assert ten_session == pytest.approx(10 * one_session) or one_session == 60.0
    ten_night = sweep_interval_s(10, 500, night, market_weight=4.0)
    assert ten_night > ten_session  # the session gets more of the budget
    assert sweep_interval_s(10, 0, session) is None
    assert sweep_interval_s(10, 100, session) > ten_session  # spent faster than planned → slow down
    # Simulate a whole UTC day of sweeps at the planned intervals: the budget lasts, and the session gets most.
    budget, t, end = DailyBudget(500), MON_0000, MON_0000 + 24 * HOUR
    session_calls = other_calls = 0
    open_ms, close_ms = MON_0000 + 14.5 * HOUR, MON_0000 + 21 * HOUR
    while t < end:
        interval = sweep_interval_s(10, budget.remaining(t), t, market_weight=4.0)
        if interval is None:
            break
        budget.spend(t, 10)
        if open_ms <= t < close_ms:
            session_calls += 10
        else:
            other_calls += 10
        t += int(interval * 1000)
    assert budget.used <= 500 and budget.used >= 450
    print(f"\n10 watch items over a weekday: {session_calls / 6.5:.1f} calls/h in the session "
          f"(each item every {6.5 * 60 / (session_calls / 10):.0f} min), {other_calls / 17.5:.1f} calls/h outside it, "
          f"{budget.used} calls in all")


def test_retry_after_forms():
    assert parse_retry_after("7", 0) == 7.0
    assert parse_retry_after("Mon, 03 Feb 2025 15:00:10 GMT", 1738594800.0) == pytest.approx(10.0)
    assert parse_retry_after("soon", 0) is None and parse_retry_after(None, 0) is None
