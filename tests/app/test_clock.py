"""The feed clock behind the countdown (no Qt): rate from new minutes, candle closes, text."""

from __future__ import annotations

from datetime import datetime

from backend.model import MINUTE_MS, Timeframe
from backend.timeutil import NEW_YORK

from app.chart.clock import FeedClock, candle_close_ms, countdown_text


def ny(y, mo, d, h, mi) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=NEW_YORK).timestamp() * 1000)


def test_a_live_feed_runs_at_wall_clock_speed():
    clock = FeedClock()
    t0 = ny(2025, 2, 3, 10, 0)
    assert clock.now_ms(100.0) is None  # nothing seen yet
    clock.observe(t0, 100.0)
    assert clock.now_ms(100.5) is None  # one minute is no rate yet
    for k in range(1, 4):
        clock.observe(t0 + k * MINUTE_MS, 100.0 + 60 * k)
    assert clock.rate == 1000
    assert clock.now_ms(100.0 + 180 + 12.5) == t0 + 3 * MINUTE_MS + 12_500


def test_a_sped_up_demo_is_extrapolated_and_session_breaks_are_not_samples():
    clock = FeedClock()
    t0 = ny(2025, 2, 3, 15, 58)
    clock.observe(t0, 0.0)
    clock.observe(t0 + MINUTE_MS, 3.0)  # 20× speed
    clock.observe(ny(2025, 2, 4, 9, 30), 6.0)  # overnight jump: not a rate sample
    assert clock.rate == 20_000
    assert clock.now_ms(7.0) == ny(2025, 2, 4, 9, 30) + 20_000
    clock.observe(ny(2025, 2, 4, 9, 29), 8.0)  # an older minute (a late correction) changes nothing
    assert clock.now_ms(7.0) == ny(2025, 2, 4, 9, 30) + 20_000


def test_candles_close_at_their_bucket_end_or_the_session_close():
    assert candle_close_ms(ny(2025, 2, 3, 10, 0), Timeframe.M1) == ny(2025, 2, 3, 10, 1)
    assert candle_close_ms(ny(2025, 2, 3, 15, 0), Timeframe.H1) == ny(2025, 2, 3, 16, 0)
    assert candle_close_ms(ny(2025, 2, 3, 15, 45), Timeframe.M15) == ny(2025, 2, 3, 16, 0)
    assert candle_close_ms(ny(2025, 2, 3, 0, 0), Timeframe.D1) == ny(2025, 2, 3, 16, 0)
    assert candle_close_ms(ny(2025, 2, 3, 17, 0), Timeframe.M5) == ny(2025, 2, 3, 17, 5)  # post-market


def test_countdown_text():
    assert countdown_text(42_000) == "0:42"
    assert countdown_text(14 * 60_000 + 5_000) == "14:05"
    assert countdown_text(2 * 3_600_000 + 3 * 60_000 + 10_000) == "2:03:10"
    assert countdown_text(-5) == "0:00"


def test_the_window_takes_the_feeds_clock_from_the_pipeline(main_window, qtbot):
    """The demo's pipeline says its event time with every processed batch (the latest bar end): the
    window's clock follows it, so the countdown needs no two new minutes to appear."""
    import time

    from backend.pipeline import PipelineUpdate

    clock = main_window.chart.clock
    qtbot.waitUntil(lambda: clock.now_ms(time.monotonic()) is not None, timeout=20_000)
    now = clock.now_ms(time.monotonic())
    main_window.bridge.updated.emit(PipelineUpdate(clock_ms=now + 3_600_000))
    assert clock.now_ms(time.monotonic()) >= now + 3_600_000
