"""Demo sources: the synthetic market and recorded-session replay.

Both enter the pipeline exactly as live data does: their data is encoded as Polygon
websocket frames and Guardian ``/search`` pages and parsed at the edge by the same
:mod:`backend.wire` parsers (news routed by the relevance matcher), so the demo exercises the
same parsing, routing, aggregation and storage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Iterable

from backend.bus.base import Bus, PriceBatch
from backend.demo.synthetic import SymbolWalk, next_session_minute, trading_minutes
from backend.model import MINUTE_MS, SECOND_MS, Bar, Timeframe, WatchItem
from backend.sources.base import SourceState, SourceStatus, StatusTracker
from backend.sources.news_routing import news_batch_from_page
from backend.timeutil import ny_date, previous_trading_days, session_bounds
from backend.wire.guardian import article_to_result, encode_search_page
from backend.wire.polygon import encode_frame, parse_frame

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


class StoredMarket:
    """Where the demo market left off: what its own store holds (read with a connection of its own)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def newest_minute(self) -> int | None:
        """Start of the newest 1m candle of any symbol, or None for a new store."""
        return self._read(lambda store: store.latest_candle_start())

    def resume_points(self, symbols: Iterable[str]) -> dict[str, tuple[int, float]]:
        """Per symbol with stored minutes: (start of its newest minute, that minute's close)."""
        def read(store) -> dict[str, tuple[int, float]]:
            points = {}
            for symbol in symbols:
                latest = store.latest_candle_start(symbol)
                if latest is not None:
                    points[symbol] = (latest, store.candles(symbol, Timeframe.M1, latest, latest + MINUTE_MS)[0].close)
            return points
        return self._read(read) or {}

    def _read(self, query):
        if not self.path.exists():
            return None
        from backend.stores.sqlite import SqliteStore

        store = SqliteStore(self.path, readonly=True)  # the pipeline's worker is the store's writer
        try:
            return query(store)
        finally:
            store.close()


class SyntheticSource:
    """Random-walk market for the watchlist: history at full speed, then a live edge at ``speed``×.

    With ``resume`` (the demo's own store), a new run continues the market where the last one
    stopped: the clock starts after the newest stored minute, each symbol's walk starts from its
    last stored close, and history is generated only for minutes the store does not hold — so
    restarting the demo never re-creates (and contradicts) minutes it already stored.
    """

    name = "Demo market"

    def __init__(self, watchlist: list[WatchItem], seed: int = 7, speed: float = 1.0,
                 history_days: int = 3, start_ms: int | None = None, resume: StoredMarket | None = None) -> None:
        self.seed, self.speed, self.history_days = seed, speed, history_days
        self.start_ms = start_ms if start_ms is not None else demo_start_ms(int(time.time() * 1000))
        self._resume = resume
        self._resumed = False
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

    async def run(self, bus: Bus) -> None:
        self._tracker.set(SourceState.STARTING, "generating history")
        if self._resume is not None and not self._resumed:
            newest = await asyncio.to_thread(self._resume.newest_minute)
            if newest is not None and newest + MINUTE_MS > self.clock_ms:
                self.clock_ms = newest + MINUTE_MS
            self._resumed = True
        try:
            while True:
                if self._pending:
                    pending, self._pending = self._pending, []
                    await self._history(bus, pending)
                    self._tracker.set(SourceState.RUNNING, f"synthetic, seed {self.seed}, {self.speed:g}× speed")
                await self._live_second(bus)
        finally:
            self._tracker.set(SourceState.STOPPED)

    async def _history(self, bus: Bus, items: list[WatchItem]) -> None:
        """Minute bars for past sessions and today's session up to the clock, as fast as the bus takes them
        (only minutes after what the demo's store already holds for a symbol)."""
        walks = {i.symbol: SymbolWalk(i.symbol, self.seed) for i in items if i.symbol in self._items}
        stored: dict[str, tuple[int, float]] = {}
        if self._resume is not None:
            stored = await asyncio.to_thread(self._resume.resume_points, list(walks))
        for symbol, (_, close) in stored.items():
            walks[symbol].price = close
        start_day = ny_date(self.clock_ms)
        days = previous_trading_days(start_day, self.history_days) + [start_day]
        for day in days:
            begun: set[str] = set()
            for minute in trading_minutes(day):
                if minute + MINUTE_MS > self.clock_ms - self.clock_ms % MINUTE_MS:
                    break
                due = {s: w for s, w in walks.items() if minute > stored.get(s, (-1, 0.0))[0]}
                for symbol in due.keys() - begun:
                    if symbol not in stored or ny_date(stored[symbol][0]) != day:
                        due[symbol].new_day()
                    begun.add(symbol)
                if due:
                    await self._publish_minute(bus, due, minute)
        # Hand the walks to the live edge at the clock's current second.
        for symbol, walk in walks.items():
            self._walks[symbol] = walk
            walk.minute_parts = []

    async def _publish_minute(self, bus: Bus, walks: dict[str, SymbolWalk], minute: int) -> None:
        bars = []
        for symbol, walk in walks.items():
            shock = walk.maybe_news(minute + walk.rng.randrange(60) * SECOND_MS, 60)
            bars.append(walk.bar("AM", minute, 60))
            if shock is not None:
                await self._publish_news(bus, symbol, shock.article)
        await publish_frame(bus, encode_frame(bars))
        self._tracker.count()

    async def _publish_news(self, bus: Bus, symbol: str, article) -> None:
        item = self._items.get(symbol)
        if item is None:
            return
        await bus.publish(news_batch_from_page(encode_search_page([article_to_result(article)]), item.query, [item]))
        self._tracker.count()

    async def _live_second(self, bus: Bus) -> None:
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
            await publish_frame(bus, encode_frame(seconds))
            self._tracker.count()
        if minutes:
            await publish_frame(bus, encode_frame(minutes))
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
    A recorded page is routed to the watch items that use its query, as a live page would be.
    """

    name = "Replay"

    def __init__(self, session_dir: Path, speed: float = 1.0, loop: bool = False,
                 watchlist: Iterable[WatchItem] = ()) -> None:
        self.session_dir, self.speed, self.loop = Path(session_dir), speed, loop
        self._items = list(watchlist)
        self._tracker = StatusTracker(f"Replay {self.session_dir.name}")

    @property
    def status(self) -> SourceStatus:
        return self._tracker.status

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Recorded news pages are routed to these items from now on."""
        self._items = list(items)

    def events(self) -> list[tuple[int, str, str]]:
        """(event_ms, query, payload) in replay order; ``query`` is "" for a price frame."""
        events: list[tuple[int, str, str]] = []
        prices = self.session_dir / "polygon.jsonl"
        last_t = 0
        for line in prices.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                ends = [m.get("e", 0) for m in json.loads(line) if isinstance(m, dict)]
                last_t = max([last_t] + [e for e in ends if isinstance(e, int)])
            except (ValueError, TypeError):
                pass  # the parser rejects the frame with its reason when it is replayed
            events.append((last_t, "", line))
        news = self.session_dir / "guardian.jsonl"
        if news.exists():
            for line in news.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    events.append((int(record.get("at_ms", last_t)), record["query"], json.dumps(record["page"])))
        events.sort(key=lambda e: e[0])
        return events

    async def run(self, bus: Bus) -> None:
        self._tracker.set(SourceState.RUNNING, f"replaying {self.session_dir.name}")
        try:
            while True:
                events = self.events()
                previous = events[0][0] if events else 0
                for t, query, payload in events:
                    if self.speed > 0 and t > previous:
                        await asyncio.sleep(min(60.0, (t - previous) / 1000 / self.speed))
                    previous = max(previous, t)
                    if query:
                        items = [i for i in self._items if i.query == query]
                        await bus.publish(news_batch_from_page(payload, query, items))
                    else:
                        await publish_frame(bus, payload)
                    self._tracker.count()
                if not self.loop:
                    self._tracker.set(SourceState.STOPPED, "replay finished")
                    await asyncio.Event().wait()  # stay alive until cancelled
        finally:
            self._tracker.set(SourceState.STOPPED, "replay finished")


async def publish_frame(bus: Bus, frame: str) -> None:
    """Parse a Polygon frame at the edge, as the live source does, and publish its bars."""
    parsed = parse_frame(frame)
    await bus.publish(PriceBatch(parsed.bars, parsed.rejected))
