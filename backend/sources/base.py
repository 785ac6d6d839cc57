"""The source contract (start/run/stop) and the status every source reports.

A source turns some outside world (a demo generator, a recorded session, the
Polygon websocket, the Guardian API) into parsed batches on the bus (it decodes what it
receives once, with the :mod:`backend.wire` parsers). It owns one task; its
:class:`SourceStatus` is what the status bar shows.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from backend.bus.base import Bus


class SourceState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKING_OFF = "backing off"
    FAILED = "failed"  # needs the user (bad key…); no retries until settings change
    STOPPED = "stopped"


@dataclass(slots=True, frozen=True)
class SourceStatus:
    """A snapshot of one source's health, as shown in the status bar."""

    name: str
    state: SourceState
    detail: str = ""
    last_message_at: float = 0.0  # wall clock (time.time()), 0 = never
    messages: int = 0
    reconnects: int = 0
    rate: float = 0.0  # messages per second, recent
    extra: dict = field(default_factory=dict)

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last message, or None if none yet."""
        if not self.last_message_at:
            return None
        return max(0.0, (now or time.time()) - self.last_message_at)


class StatusTracker:
    """Mutable helper a source uses to keep its status and message rate."""

    def __init__(self, name: str) -> None:
        self._status = SourceStatus(name, SourceState.STOPPED)
        self._window_start = time.monotonic()
        self._window_count = 0

    @property
    def status(self) -> SourceStatus:
        return self._status

    def set(self, state: SourceState, detail: str = "", **changes) -> None:
        self._status = replace(self._status, state=state, detail=detail, **changes)

    def update(self, **changes) -> None:
        self._status = replace(self._status, **changes)

    def count(self, n: int = 1) -> None:
        now = time.monotonic()
        self._window_count += n
        elapsed = now - self._window_start
        rate = self._status.rate
        if elapsed >= 1.0:
            rate = self._window_count / elapsed
            self._window_start, self._window_count = now, 0
        self._status = replace(
            self._status, messages=self._status.messages + n, last_message_at=time.time(), rate=rate
        )


class Source(Protocol):
    """What the pipeline runs: one long-lived task per source."""

    name: str

    @property
    def status(self) -> SourceStatus: ...

    async def run(self, bus: Bus) -> None:
        """Produce until cancelled; must survive anything the outside world sends."""

    def set_watchlist(self, items: list) -> None:
        """React to a watchlist change (subscribe/unsubscribe, new queries)."""


log = logging.getLogger(__name__)


async def supervise(source: Source, bus, restart_after_s: float = 2.0) -> None:
    """Run a source on ``bus``; if it crashes, log it and restart it after a pause — it never dies silently.

    A missing package (``ImportError``) is not retried — a restart cannot install it: the source is
    marked ``failed`` with the reason (if it has a ``fail`` method) and the task waits to be cancelled.
    """
    while True:
        try:
            await source.run(bus)
            return
        except asyncio.CancelledError:
            raise
        except ImportError as exc:
            log.error("source %s cannot run: %s", source.name, exc)
            fail = getattr(source, "fail", None)
            if fail is not None:
                fail(str(exc))
            await asyncio.Event().wait()
        except Exception:
            log.exception("source %s crashed; restarting in %.0f s", source.name, restart_after_s)
            await asyncio.sleep(restart_after_s)
