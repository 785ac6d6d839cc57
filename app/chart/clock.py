"""The feed's clock and a candle's close, for the countdown beside the last price (no Qt).

The pipeline says the feed's event time when it knows it (``PipelineUpdate.clock_ms``: the latest
bar end it processed, to the second with second bars); otherwise it is estimated from candles: a
new one-minute candle appearing means the feed's clock has just passed that minute's start. A live
feed runs at wall-clock speed (a delayed feed 15 minutes behind); the demo and replays run at
``--speed`` × real time. :class:`FeedClock` measures that rate from successive observations and
extrapolates between them.
"""

from __future__ import annotations

from datetime import datetime, timezone

from backend.model import MINUTE_MS, Timeframe
from backend.timeutil import NEW_YORK, session_bounds

#: Two new minutes further apart than this (in feed time) are a session break, not a rate sample.
MAX_SAMPLE_GAP_MS = 5 * MINUTE_MS
SAMPLES = 5


class FeedClock:
    """Estimates the feed's current time (UTC ms) from when new minutes appear."""

    def __init__(self) -> None:
        self._anchor: tuple[float, int] | None = None  # (wall s, feed ms) when the newest minute appeared
        self._rates: list[float] = []  # feed ms per wall s, recent samples

    def observe(self, start_ms: int, wall_s: float) -> None:
        """The feed's clock was at least ``start_ms`` at wall time ``wall_s`` (a bar's end, a new minute's start)."""
        if self._anchor is not None:
            wall0, feed0 = self._anchor
            if start_ms <= feed0:
                return  # not a new minute
            gap, elapsed = start_ms - feed0, wall_s - wall0
            if gap <= MAX_SAMPLE_GAP_MS and elapsed > 0.01:
                self._rates = (self._rates + [gap / elapsed])[-SAMPLES:]
        self._anchor = (wall_s, start_ms)

    @property
    def rate(self) -> float | None:
        """Feed ms per wall-clock second (1000 for a live feed), or None until measured."""
        if not self._rates:
            return None
        return sorted(self._rates)[len(self._rates) // 2]

    def now_ms(self, wall_s: float) -> int | None:
        """The feed's current time, or None while it cannot be told."""
        if self._anchor is None or self.rate is None:
            return None
        wall0, feed0 = self._anchor
        return int(feed0 + (wall_s - wall0) * self.rate)


def candle_close_ms(start_ms: int, timeframe: Timeframe) -> int:
    """When a candle stops changing: its bucket's end, or the regular session's close if that is sooner.

    A ``1d`` candle closes with the session; a candle that starts after the close (post-market)
    runs to its bucket's end.
    """
    tf = Timeframe(timeframe)
    day = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc).astimezone(NEW_YORK).date()
    _, close = session_bounds(day)
    if tf == Timeframe.D1:
        return close
    end = start_ms + tf.ms
    return min(end, close) if start_ms < close else end


def countdown_text(remaining_ms: int) -> str:
    """``0:42``, ``14:05``, ``2:03:10`` — time left until a candle closes."""
    s = max(0, remaining_ms) // 1000
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
