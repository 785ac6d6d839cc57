"""Time helpers: exchange (New York) days and sessions, UTC millisecond conversions.

Everything is stored in UTC milliseconds; the exchange's calendar (America/New_York)
decides what a trading day is and when the regular session runs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)


@lru_cache(maxsize=65_536)
def _ny_day_start_for_hour(hour: int) -> int:
    local = datetime.fromtimestamp(hour * 3600, tz=NEW_YORK)
    midnight = datetime.combine(local.date(), time(0), tzinfo=NEW_YORK)
    return int(midnight.timestamp() * 1000)


def ny_day_start(ms: int) -> int:
    """UTC ms of New York midnight of the New York day containing ``ms`` (cached per hour)."""
    return _ny_day_start_for_hour(ms // HOUR_MS)


def ny_date(ms: int) -> date:
    """The New York calendar date of ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=NEW_YORK).date()


def session_bounds(day: date) -> tuple[int, int]:
    """UTC ms of the regular session's open and close on a New York date."""
    open_ = datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK)
    close = datetime.combine(day, SESSION_CLOSE, tzinfo=NEW_YORK)
    return int(open_.timestamp() * 1000), int(close.timestamp() * 1000)


def is_trading_day(day: date) -> bool:
    """Weekdays; exchange holidays are not modelled (a holiday simply has no bars)."""
    return day.weekday() < 5


def previous_trading_days(day: date, count: int) -> list[date]:
    """The ``count`` trading days before ``day``, oldest first."""
    out: list[date] = []
    d = day
    while len(out) < count:
        d -= timedelta(days=1)
        if is_trading_day(d):
            out.append(d)
    return out[::-1]


def to_iso(ms: int) -> str:
    """UTC ms → ISO 8601 with ``Z``, to the second (or millisecond when not whole)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if ms % 1000:
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    """ISO 8601 (``2025-02-03``, ``2025-02-03T14:31``, with ``Z`` or an offset; naive = UTC) → UTC ms."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time (e.g. 2025-02-03T14:31Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
