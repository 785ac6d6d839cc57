"""Demo sources: the synthetic market and recorded-session replay, publishing wire-format payloads.

Both enter the pipeline exactly where live data does — as Polygon websocket frames on
``stock-prices`` and Guardian ``/search`` pages on ``news-articles`` — so the demo
exercises the same parsing, aggregation and storage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from backend.bus.memory import NEWS, PRICES, InProcessBus
from backend.demo.synthetic import SymbolWalk, next_session_minute, trading_minutes
from backend.model import MINUTE_MS, SECOND_MS, Bar, WatchItem
from backend.sources.base import SourceState, SourceStatus, StatusTracker
from backend.timeutil import ny_date, previous_trading_days, session_bounds
from backend.wire.guardian import article_to_result, encode_search_page
from backend.wire.polygon import encode_frame

log = logging.getLogger(__name__)


def demo_start_ms(now_ms: int) -> int:
    """Where the demo clock starts: now if a session is open, else an hour into the latest session."""
    today = ny_date(now_ms)
    day = today
    while True:
        open_ms, close_ms = session_bounds(day)
        if day.weekday() < 5 and open_ms <= now_ms:
            if now_ms < close_ms:
                return now_ms - now_ms % SECOND_MS
            return open_ms + 60 * MINUTE_MS
        day = previous_trading_days(day, 1)[0]


class SyntheticSource:
    """Random-walk market for the watchlist: history at full speed, then a live edge at ``speed``×."""

    name = "Demo market"

    def __init__(self, watchlist: list[WatchItem], seed: int = 7, speed: float = 1.0,
                 history_days: int = 3, start_ms: int | None = None) -> None:
        self.seed, self.speed, self.history_days = seed, speed, history_days
        self.start_ms = start_ms if start_ms is not None else demo_start_ms(int(time.time() * 1000))
        self._items: dict[str, WatchItem] = {}
        self._walks: dict[str, SymbolWalk] = {}
        self._pending: list[WatchItem] = []
        self._tracker = StatusTracker(self.name)
        self.clock_ms = self.start_ms
        self.set_watchlist(watchlist)

    @property
    def status(self) -> SourceStatus:
        return self._tracker.status

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """New symbols get their history generated and join the live edge; removed ones stop."""
        wanted = {i.symbol: i for i in items}
        for symbol in list(self._walks):
            if symbol not in wanted:
                del self._walks[symbol]
        for symbol, item in wanted.items():
            if symbol not in self._items or self._items[symbol] != item:
                if symbol not in self._walks:
                    self._pending.append(item)
        self._items = wanted

    async def run(self, bus: InProcessBus) -> None:
        self._tracker.set(SourceState.STARTING, "generating history")
        try:
            while True:
                if self._pending:
                    pending, self._pending = self._pending, []
                    await self._history(bus, pending)
                    self._tracker.set(SourceState.RUNNING, f"synthetic, seed {self.seed}, {self.speed:g}× speed")
                await self._live_second(bus)
        finally:
            self._tracker.set(SourceState.STOPPED)

    async def _history(self, bus: InProcessBus, items: list[WatchItem]) -> None:
        """Minute bars for past sessions and today's session up to the clock, as fast as the bus takes them."""
        walks = {i.symbol: SymbolWalk(i.symbol, self.seed) for i in items if i.symbol in self._items}
        start_day = ny_date(self.clock_ms)
        days = previous_trading_days(start_day, self.history_days) + [start_day]
        for day in days:
            for walk in walks.values():
                walk.new_day()
            for minute in trading_minutes(day):
                if minute + MINUTE_MS > self.clock_ms - self.clock_ms % MINUTE_MS:
                    break
                await self._publish_minute(bus, walks, minute)
        # Hand the walks to the live edge at the clock's current second.
        for symbol, walk in walks.items():
            self._walks[symbol] = walk
            walk.minute_parts = []

    async def _publish_minute(self, bus: InProcessBus, walks: dict[str, SymbolWalk], minute: int) -> None:
        bars = []
        for symbol, walk in walks.items():
            shock = walk.maybe_news(minute + walk.rng.randrange(60) * SECOND_MS, 60)
            bars.append(walk.bar("AM", minute, 60))
            if shock is not None:
                await self._publish_news(bus, symbol, shock.article)
        await bus.publish(PRICES, "demo", encode_frame(bars))
        self._tracker.count()

    async def _publish_news(self, bus: InProcessBus, symbol: str, article) -> None:
        item = self._items.get(symbol)
        if item is None:
            return
        await bus.publish(NEWS, item.query, encode_search_page([article_to_result(article)]))
        self._tracker.count()

    async def _live_second(self, bus: InProcessBus) -> None:
        """One simulated second: an ``A`` frame, the ``AM`` frame at a minute's end, maybe news."""
        t = next_session_minute(self.clock_ms)
        if t != self.clock_ms:  # the session closed: jump to the next open
            for walk in self._walks.values():
                walk.new_day()
                walk.minute_parts = []
            self.clock_ms = t
        seconds, minutes = [], []
        for symbol, walk in list(self._walks.items()):
            shock = walk.maybe_news(self.clock_ms, 1)
            if shock is not None:
                await self._publish_news(bus, symbol, shock.article)
            bar = walk.bar("A", self.clock_ms, 1)
            seconds.append(bar)
            walk.minute_parts.append(bar)
            if (self.clock_ms + SECOND_MS) % MINUTE_MS == 0:
                minutes.append(_minute_bar(walk.minute_parts))
                walk.minute_parts = []
        if seconds:
            await bus.publish(PRICES, "demo", encode_frame(seconds))
            self._tracker.count()
        if minutes:
            await bus.publish(PRICES, "demo", encode_frame(minutes))
            self._tracker.count()
        self.clock_ms += SECOND_MS
        await asyncio.sleep(1.0 / self.speed)


def _minute_bar(parts: list[Bar]) -> Bar:
    """The ``AM`` bar the provider would send for a minute made of these ``A`` bars."""
    first, last = parts[0], parts[-1]
    volume = sum(p.volume for p in parts)
    vwap = round(sum(p.vwap * p.volume for p in parts) / volume, 4)
    minute = first.start_ms - first.start_ms % MINUTE_MS
    return Bar("AM", first.symbol, minute, minute + MINUTE_MS, first.open, max(p.high for p in parts),
               min(p.low for p in parts), last.close, volume, vwap, last.accumulated_volume,
               last.official_open, last.day_vwap, last.avg_trade_size, False)


class ReplaySource:
    """Replays a recorded session directory (``polygon.jsonl`` frames, ``guardian.jsonl`` pages).

    Frames are paced by their event time (a frame's latest bar end; an article page by
    its newest publication) divided by ``speed``; ``speed <= 0`` replays as fast as possible.
    """

    name = "Replay"

    def __init__(self, session_dir: Path, speed: float = 1.0, loop: bool = False) -> None:
        self.session_dir, self.speed, self.loop = Path(session_dir), speed, loop
        self._tracker = StatusTracker(f"Replay {self.session_dir.name}")

    @property
    def status(self) -> SourceStatus:
        return self._tracker.status

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """A recording holds what it holds; the watchlist only filters what the app shows."""

    def events(self) -> list[tuple[int, str, str, str]]:
        """(event_ms, topic, key, payload) in replay order."""
        events: list[tuple[int, str, str, str]] = []
        prices = self.session_dir / "polygon.jsonl"
        last_t = 0
        for line in prices.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                ends = [m.get("e", 0) for m in json.loads(line) if isinstance(m, dict)]
                last_t = max([last_t] + [e for e in ends if isinstance(e, int)])
            except (ValueError, TypeError):
                pass  # the pipeline will reject the frame with its reason
            events.append((last_t, PRICES, "replay", line))
        news = self.session_dir / "guardian.jsonl"
        if news.exists():
            for line in news.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    events.append((int(record.get("at_ms", last_t)), NEWS, record["query"], json.dumps(record["page"])))
        events.sort(key=lambda e: e[0])
        return events

    async def run(self, bus: InProcessBus) -> None:
        self._tracker.set(SourceState.RUNNING, f"replaying {self.session_dir.name}")
        try:
            while True:
                events = self.events()
                previous = events[0][0] if events else 0
                for t, topic, key, payload in events:
                    if self.speed > 0 and t > previous:
                        await asyncio.sleep(min(60.0, (t - previous) / 1000 / self.speed))
                    previous = max(previous, t)
                    await bus.publish(topic, key, payload)
                    self._tracker.count()
                if not self.loop:
                    self._tracker.set(SourceState.STOPPED, "replay finished")
                    await asyncio.Event().wait()  # stay alive until cancelled
        finally:
            self._tracker.set(SourceState.STOPPED, "replay finished")
