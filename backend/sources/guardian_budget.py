"""The Guardian key's budget: calls per day, and how often the watchlist may be swept.

A developer key allows 1 call per second (a :class:`~backend.sources.backoff.TokenBucket`)
and 500 calls per day (commercial keys: the ``guardian_calls_per_day`` setting).
:class:`DailyBudget` counts the calls of the current UTC day (and is persisted, so a restart
does not forget them). :func:`sweep_interval_s` spreads the calls left over the rest of the
day, weighting New York's regular session (when news moves prices) ``market_weight`` times
more than other hours, so the sweep interval adapts to the calls a sweep makes (one for a
whole watchlist whose query fits one request) and to what has been spent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from backend.timeutil import DAY_MS, is_trading_day, ny_date, session_bounds


class DailyBudget:
    """Calls made on the current UTC day against a daily ``limit``."""

    def __init__(self, limit: int, day: str = "", used: int = 0) -> None:
        self.limit = limit
        self.day = day
        self.used = used

    @staticmethod
    def _day(now_ms: int) -> str:
        return datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date().isoformat()

    def _roll(self, now_ms: int) -> None:
        today = self._day(now_ms)
        if today != self.day:
            self.day, self.used = today, 0

    def remaining(self, now_ms: int) -> int:
        self._roll(now_ms)
        return max(0, self.limit - self.used)

    def spend(self, now_ms: int, n: int = 1) -> None:
        self._roll(now_ms)
        self.used += n

    @staticmethod
    def reset_at_ms(now_ms: int) -> int:
        """The next UTC midnight, when the day's calls start again."""
        return now_ms - now_ms % DAY_MS + DAY_MS

    def to_json(self) -> dict:
        return {"day": self.day, "used": self.used}

    @classmethod
    def from_json(cls, limit: int, data: object) -> "DailyBudget":
        if isinstance(data, dict) and isinstance(data.get("day"), str) and isinstance(data.get("used"), int):
            return cls(limit, data["day"], max(0, data["used"]))
        return cls(limit)


def _session_overlap_ms(start_ms: int, end_ms: int) -> int:
    """Milliseconds of ``[start_ms, end_ms)`` inside New York regular sessions."""
    total = 0
    day: date = ny_date(start_ms) - timedelta(days=1)
    last = ny_date(end_ms)
    while day <= last:
        if is_trading_day(day):
            open_ms, close_ms = session_bounds(day)
            total += max(0, min(end_ms, close_ms) - max(start_ms, open_ms))
        day += timedelta(days=1)
    return total


def weighted_ms(start_ms: int, end_ms: int, market_weight: float) -> float:
    """Length of ``[start_ms, end_ms)`` with session time counted ``market_weight`` times."""
    if end_ms <= start_ms:
        return 0.0
    session = _session_overlap_ms(start_ms, end_ms)
    return (end_ms - start_ms - session) + session * market_weight


def sweep_interval_s(queries: int, remaining: int, now_ms: int, market_weight: float = 4.0,
                     min_interval_s: float = 30.0, reserve: float = 0.05, limit: int = 500) -> float | None:
    """Seconds between two sweeps so that the calls left last until the reset.

    A sweep makes ``queries`` calls (one each when nothing new spans pages). Returns
    None when no call is left for today (wait for the reset). ``reserve`` keeps a share of
    the daily limit for extra pages, retries and newly added watch items.
    """
    if remaining < 1:
        return None
    if queries <= 0:
        return min_interval_s
    usable = remaining - reserve * limit
    if usable < queries:
        usable = remaining  # into the reserve: keep polling, as slowly as the rest allows
    reset = DailyBudget.reset_at_ms(now_ms)
    weight_now = market_weight if _session_overlap_ms(now_ms, now_ms + 1) else 1.0
    left = weighted_ms(now_ms, reset, market_weight) / 1000  # weighted seconds until the reset
    interval = queries * left / (usable * weight_now)
    return max(min_interval_s, interval)
