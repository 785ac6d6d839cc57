"""Retry pacing for live sources: capped exponential backoff with jitter, and a token bucket.

Both take their timings as arguments (tests run them in milliseconds) and a clock
function, so nothing here reads the wall clock behind the caller's back.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(slots=True)
class BackoffPolicy:
    """Timings of a :class:`Backoff`: first delay, cap, growth factor and jitter share (0..1)."""

    initial_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff policy {self}")


class Backoff:
    """Delays that grow ``initial × factor^n`` up to ``max``, each shortened by a random jitter share.

    With ``jitter=0.5`` a delay ``d`` becomes uniform in ``[d/2, d]`` ("equal jitter"): clients
    that lost the same server at the same moment do not come back in lockstep, and the
    delay never collapses to zero (which would be a retry storm).
    """

    def __init__(self, policy: BackoffPolicy | None = None, rng: random.Random | None = None) -> None:
        self.policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failure."""
        p = self.policy
        base = min(p.max_s, p.initial_s * p.factor ** min(self.attempt, 64))
        self.attempt += 1
        return base * (1 - p.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self.attempt = 0


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; :meth:`acquire` waits for one.

    Args:
        rate: tokens added per second (the sustained call rate).
        capacity: burst size; 1 means calls are at least ``1/rate`` apart.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, rate: float, capacity: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("token bucket needs rate > 0 and capacity >= 1")
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens = capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def try_take(self) -> bool:
        """Take a token if one is available now."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait until a token is available and take it."""
        while not self.try_take():
            await asyncio.sleep(self.wait_time())
