"""Polygon.io / Massive stocks websocket source (``AM``/``A`` aggregates) with gap backfill.

Built on the official client's ``WebSocketClient`` (``polygon-api-client`` or its successor
``massive``, see :mod:`backend.sources.market_client`): raw frames, key passed explicitly,
host from settings. A missing client package shows as ``failed`` with the reason. The
client's own reconnect loop is switched off (``max_reconnects=0``: that counter spans the
client's whole life, so any finite value eventually ends the stream): every drop ends ``connect()`` and this source reconnects
forever with capped exponential backoff and jitter, showing ``backing off`` meanwhile.

Data path, chosen so the receive loop never waits:

* the client's processor only appends the raw frame to an in-memory inbox;
* a pump task parses each frame once (:func:`backend.wire.polygon.parse_frame`), publishes its
  bars as a :class:`~backend.bus.base.PriceBatch` in order and looks at what it held (status
  messages, subscription acks, which minutes the stream delivered);
* when the server acknowledges a symbol's subscription on a new connection, the gap
  since the last minute known to be covered (minus an overlap for late corrections, and
  from any recorded gap) is fetched from the REST aggregates endpoint, all ``next_url``
  pages, and queued in the same inbox. A backfilled minute that the stream already
  delivered on this connection is left out (the stream's value is newer); everything
  else is an upsert downstream.

The covered mark of a symbol advances only when the pipeline confirms that the batch which
covers it is stored (``PriceBatch.on_stored``); a batch the pipeline gave up on records a
gap from its first minute, which the next connection's backfill fetches again. So a crash,
a shutdown whose drain timed out, or a failed store write never leaves a silent hole.

An auth failure puts the source in ``failed`` with the server's message; it does not
reconnect until the key (read through a provider) changes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from backend.bus.base import Bus, PriceBatch
from backend.model import MINUTE_MS, Bar, WatchItem
from backend.sources.backoff import Backoff, BackoffPolicy
from backend.sources.base import SourceState, SourceStatus
from backend.sources.live import KeyProvider, LiveStatus, RedactingLogger, StoppableSource, key_provider, mask
from backend.sources.market_client import MissingDependency, load_market_client
from backend.sources.polygon_rest import fetch_minutes, rest_client
from backend.sources.state import JsonState
from backend.timeutil import NEW_YORK, is_trading_day, ny_date, previous_trading_days
from backend.wire.polygon import ParsedFrame, parse_frame

log = logging.getLogger(__name__)

DEFAULT_WS = {"delayed": "wss://delayed.polygon.io/stocks", "realtime": "wss://socket.polygon.io/stocks"}
DEFAULT_REST = "https://api.polygon.io"
FRAME_BARS = 2_000  # backfilled bars per published frame
_CONNECT_FAILED = "connect failed"  # what websockets logs before retrying a failed opening handshake


@dataclass(slots=True)
class PolygonConfig:
    """Where and how to connect; every timing is configurable (tests use milliseconds)."""

    ws_url: str = DEFAULT_WS["delayed"]
    rest_url: str = DEFAULT_REST
    feed: str = "delayed"
    subscriptions: tuple[str, ...] = ("AM",)
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(1.0, 60.0))
    backfill_backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(2.0, 120.0))
    stable_after_s: float = 30.0  # a connection that lived this long resets the backoff
    connect_timeout_s: float = 15.0  # no subscription ack within this → the attempt failed
    ack_timeout_s: float = 3.0  # backfill a symbol anyway if its subscription ack does not come
    overlap_ms: int = 15 * MINUTE_MS  # re-fetch this much before the covered mark (late corrections)
    key_check_s: float = 5.0
    rest_timeout_s: float = 10.0
    rest_retries: int = 3
    save_every_s: float = 30.0
    state_path: Path | None = None
    track_published: bool = False  # count sends per (symbol, minute) — for tests and diagnostics


def split_ws_url(url: str) -> tuple[str, str, bool]:
    """``wss://delayed.polygon.io/stocks`` → (feed host, market, secure) for ``WebSocketClient``.

    Raises:
        ValueError: the URL is not ``ws://`` or ``wss://`` with a market path such as ``/stocks``.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"websocket URL {url!r} must start with ws:// or wss:// and name a host")
    path = parts.path.rstrip("/")
    if "/" not in path or not path.rsplit("/", 1)[1]:
        raise ValueError(f"websocket URL {url!r} must end with the market path, e.g. /stocks")
    prefix, market = path.rsplit("/", 1)
    return parts.netloc + prefix, market, parts.scheme == "wss"


def initial_from_ms(now_ms: int) -> int:
    """Where a symbol's first backfill starts: midnight (New York) of the latest trading day."""
    day = ny_date(now_ms)
    if not is_trading_day(day):
        day = previous_trading_days(day, 1)[0]
    return int(datetime.combine(day, dtime(0), tzinfo=NEW_YORK).timestamp() * 1000)


class _Marker:
    """Inbox item: a new connection starts here (the pump resets its per-connection view)."""

    __slots__ = ("generation",)

    def __init__(self, generation: int) -> None:
        self.generation = generation


class _Frame:
    """Inbox item: a websocket text frame and when it arrived."""

    __slots__ = ("text", "received_ns")

    def __init__(self, text: str | bytes) -> None:
        self.text = text
        self.received_ns = time.perf_counter_ns()


class _Backfill:
    """Inbox item: a symbol's backfilled minute bars, fetched for one connection (``generation``)."""

    __slots__ = ("symbol", "generation", "bars", "gap")

    def __init__(self, symbol: str, generation: int, bars: list[Bar], gap: int | None) -> None:
        self.symbol, self.generation, self.bars, self.gap = symbol, generation, bars, gap


class PolygonSource(StoppableSource):
    """The live price feed (see the module docstring)."""

    name = "Polygon/Massive"

    def __init__(self, watchlist: list[WatchItem], api_key: str | KeyProvider, config: PolygonConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.config = config or PolygonConfig()
        self._key = key_provider(api_key)
        self._clock = clock
        try:
            self._host, self._market, self._secure = split_ws_url(self.config.ws_url)
            self._config_error = ""
        except ValueError as exc:  # shown as a failed source, not a crash
            self._host, self._market, self._secure = self.config.ws_url, "stocks", True
            self._config_error = str(exc)
        self._status = LiveStatus(self.name, log)
        self._symbols: list[str] = []
        self._inbox: collections.deque = collections.deque()
        self._inbox_ready = asyncio.Event()
        self._client = None
        self._rest = None
        self._rest_key = ""
        self._state = JsonState(self.config.state_path)
        saved = self._state.load()
        self._covered: dict[str, int] = _minutes(saved.get("covered"))  # stored through this minute
        self._gaps: dict[str, int] = _minutes(saved.get("gaps"))  # a batch from this minute was not stored
        self._generation = 0
        self._pump_generation = 0
        self._stream_minutes: dict[str, set[int]] = {}
        self._stream_max: dict[str, int] = {}
        self._live: set[str] = set()
        self._awaiting_ack: dict[str, float] = {}
        self._backfills: dict[str, asyncio.Task] = {}
        self._established: asyncio.Event | None = None
        self._connect_failure: str = ""
        self._dirty = False
        self.reconnect_times: list[float] = []  # seconds from a drop to the next subscription ack
        self.backfill_requests = 0
        self.backfilled_bars = 0
        self.published_minutes: collections.Counter = collections.Counter()  # (symbol, minute) → times sent
        self._dropped_at: float | None = None
        self.set_watchlist(watchlist)
        self._status.set(SourceState.STOPPED)
        self._status.extra(feed=self.config.feed, subscriptions=",".join(self.config.subscriptions))

    # -- Source protocol ----------------------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self._status.status

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """Subscribe/unsubscribe on the open connection (no reconnect); new symbols get backfilled."""
        symbols = list(dict.fromkeys(i.symbol for i in items))
        added = [s for s in symbols if s not in self._symbols]
        removed = [s for s in self._symbols if s not in symbols]
        self._symbols = symbols
        client = self._client
        if client is not None:
            if removed:
                client.unsubscribe(*self._topics(removed))
            if added:
                client.subscribe(*self._topics(added))
        now = time.monotonic()
        for s in added:
            self._awaiting_ack[s] = now + self.config.ack_timeout_s
        for s in removed:
            self._awaiting_ack.pop(s, None)
            task = self._backfills.pop(s, None)
            if task is not None:
                task.cancel()
        if added or removed:
            log.info("%s: watching %s", self.name, ", ".join(symbols) or "nothing")

    def fail(self, reason: str) -> None:
        """Show the source as failed (a missing package: nothing to retry until it is installed)."""
        self._status.set(SourceState.FAILED, reason)

    async def run(self, bus: Bus) -> None:
        """Connect, stream and backfill until cancelled or asked to stop."""
        stop = self._bind_loop()
        try:
            self._market_client = load_market_client()
        except MissingDependency as exc:
            self.fail(str(exc))
            try:
                await stop.wait()
            finally:
                self._mark_stopped()
            return
        self._status.extra(client=self._market_client.distribution)
        self._inbox_ready = asyncio.Event()
        self._rest_slot = asyncio.Semaphore(1)
        pump = asyncio.create_task(self._pump(bus), name="polygon-pump")
        main = asyncio.create_task(self._connect_forever(), name="polygon-connect")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
            await self._shutdown(main, pump, bus, drain=True)
        finally:
            stopper.cancel()
            await self._shutdown(main, pump, bus, drain=False)
            self._save_state()
            self._status.set(SourceState.STOPPED)
            self._mark_stopped()

    # -- connection ---------------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        backoff = Backoff(self.config.backoff)
        if self._config_error:
            self._status.set(SourceState.FAILED, f"{self._config_error} (Settings → polygon_ws_url or "
                             "TICKERWIRE_POLYGON_WS_URL)")
            await asyncio.Event().wait()
        while True:
            key = self._key()
            if not key:
                self._status.set(SourceState.FAILED, "no Polygon/Massive API key: add one in Settings → API keys "
                                 "or set MASSIVE_API_KEY")
                await self._wait_key_change("")
                continue
            if not self._symbols:
                self._status.set(SourceState.RUNNING, "nothing to watch")
                await asyncio.sleep(self.config.key_check_s)
                continue
            self._status.set(SourceState.STARTING, f"connecting to {self._host}")
            outcome, reason, lived = await self._connect_once(key)
            if outcome == "auth":
                self._status.set(SourceState.FAILED, f"the server rejected the API key ({reason}); "
                                 "enter a valid key in Settings → API keys")
                await self._wait_key_change(key)
                backoff.reset()
                continue
            if lived >= self.config.stable_after_s:
                backoff.reset()
            delay = backoff.next_delay()
            reconnects = self.status.reconnects + 1
            self._dropped_at = time.monotonic()
            self._status.set(SourceState.BACKING_OFF, f"{reason}; reconnecting in {delay:.3g} s",
                             reconnects=reconnects)
            await asyncio.sleep(delay)

    async def _wait_key_change(self, rejected: str) -> None:
        """Poll the key provider (no network) until it gives a key other than ``rejected``."""
        while self._key() == rejected:
            await asyncio.sleep(self.config.key_check_s)
        log.info("%s: API key changed; connecting again", self.name)

    async def _connect_once(self, key: str) -> tuple[str, str, float]:
        """One connection's life: ('auth', message, 0) or ('drop', reason, seconds it lived)."""
        WebSocketClient, AuthError = self._market_client.WebSocketClient, self._market_client.AuthError
        self._generation += 1
        self._push(_Marker(self._generation))
        self._established = asyncio.Event()
        self._connect_failure = ""
        failed = asyncio.Event()

        def on_connect_failed(text: str) -> None:
            self._connect_failure = text.split(":", 1)[-1].strip() or text
            failed.set()

        client = WebSocketClient(api_key=key, feed=self._host, market=self._market, raw=True,
                                 subscriptions=self._topics(self._symbols), max_reconnects=0, secure=self._secure)
        logger = RedactingLogger(logging.getLogger("websockets.client"), (key,), (_CONNECT_FAILED, on_connect_failed))
        now = time.monotonic()
        self._awaiting_ack = {s: now + self.config.connect_timeout_s for s in self._symbols}
        self._client = client
        task = asyncio.create_task(client.connect(self._on_frame, close_timeout=1, logger=logger))
        opened = time.monotonic()
        try:
            waiters = {task, asyncio.create_task(self._established.wait()), asyncio.create_task(failed.wait())}
            done, pending = await asyncio.wait(waiters, timeout=self.config.connect_timeout_s,
                                               return_when=asyncio.FIRST_COMPLETED)
            for w in pending - {task}:
                w.cancel()
            if task not in done and not self._established.is_set():
                task.cancel()
                reason = (f"cannot connect to {self._host}: {self._connect_failure}" if failed.is_set()
                          else f"no subscription acknowledgement from {self._host} within "
                               f"{self.config.connect_timeout_s:g} s")
                await asyncio.gather(task, return_exceptions=True)
                return "drop", mask(reason, key), 0.0
            opened = time.monotonic()
            try:
                await task
                reason = "the server closed the connection"
            except AuthError as exc:
                return "auth", mask(str(exc) or "authentication failed", key), 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any way a connection can end: it is a drop, never a crash
                reason = f"connection lost ({type(exc).__name__}: {exc})"
            return "drop", mask(reason, key), time.monotonic() - opened
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._client = None
            for t in self._backfills.values():
                t.cancel()
            self._backfills.clear()

    async def _on_frame(self, frame: str | bytes) -> None:
        """The client's processor: hand the frame off at once (never work in the receive loop)."""
        self._push(_Frame(frame))

    def _push(self, item) -> None:
        self._inbox.append(item)
        self._inbox_ready.set()

    def _topics(self, symbols: list[str]) -> list[str]:
        return [f"{ev}.{s}" for s in symbols for ev in self.config.subscriptions]

    # -- pump: inbox → bus ----------------------------------------------------------------------------

    async def _pump(self, bus: Bus) -> None:
        last_save = time.monotonic()
        while True:
            if not self._inbox:
                self._inbox_ready.clear()
                try:
                    await asyncio.wait_for(self._inbox_ready.wait(), timeout=0.25)
                except asyncio.TimeoutError:
                    pass
            self._check_ack_deadlines()
            while self._inbox:
                item = self._inbox.popleft()
                if isinstance(item, _Marker):
                    self._pump_generation = item.generation
                    self._stream_minutes.clear()
                    self._stream_max.clear()
                    self._live.clear()
                elif isinstance(item, _Backfill):
                    await self._publish_backfill(bus, item)
                else:
                    await self._publish_frame(bus, item)
            if self._dirty and time.monotonic() - last_save >= self.config.save_every_s:
                self._save_state()
                last_save = time.monotonic()

    async def _publish_frame(self, bus: Bus, frame: _Frame) -> None:
        """Parse a frame once, publish its bars, learn from it; the batch advances covered marks once stored."""
        parsed = parse_frame(frame.text)
        self._status.tracker.count(max(1, len(parsed.bars) + len(parsed.statuses) + len(parsed.rejected)))
        advance = self._inspect(parsed)
        if parsed.bars or parsed.rejected:
            await bus.publish(PriceBatch(parsed.bars, parsed.rejected, frame.received_ns,
                                         self._when_stored(lambda stored: self._settle(advance, parsed.bars, stored))))
        for status in parsed.statuses:  # after the frame's bars: a subscription ack may start a backfill
            self._on_status(status.status, status.message)

    def _inspect(self, parsed: ParsedFrame) -> dict[str, int]:
        """Note which minutes the stream delivered; return the covered marks this frame moves once stored."""
        advance: dict[str, int] = {}
        for bar in parsed.bars:
            sym = bar.symbol
            minute = bar.start_ms - bar.start_ms % MINUTE_MS
            if sym not in self._live:  # only needed until the symbol's backfill is out
                self._stream_minutes.setdefault(sym, set()).add(minute)
            if bar.ev == "AM" and self.config.track_published:
                self.published_minutes[(sym, minute)] += 1
            if minute > self._stream_max.get(sym, -1):
                self._stream_max[sym] = minute
            if sym in self._live and minute > advance.get(sym, -1):
                advance[sym] = minute
        return advance

    def _settle(self, advance: dict[str, int], bars: list[Bar], stored: bool) -> None:
        """A published batch's outcome: stored → covered marks advance; given up → a gap from its first minute."""
        if stored:
            for sym, minute in advance.items():
                if minute > self._covered.get(sym, -1):
                    self._covered[sym] = minute
                    self._dirty = True
            return
        for bar in bars:
            minute = bar.start_ms - bar.start_ms % MINUTE_MS
            if minute < self._gaps.get(bar.symbol, 1 << 62):
                self._gaps[bar.symbol] = minute
                self._dirty = True
        log.warning("%s: a batch of %d bar(s) was not stored; its minutes will be fetched again", self.name, len(bars))

    def _on_status(self, status: str, message: str) -> None:
        if status == "success" and message.startswith("subscribed to:"):
            topic = message.split(":", 1)[1].strip()
            symbol = topic.split(".", 1)[1] if "." in topic else topic
            if self._established is not None and not self._established.is_set():
                self._established.set()
                self._on_established()
            if symbol in self._awaiting_ack:
                del self._awaiting_ack[symbol]
                self._start_backfill(symbol)
        elif status in ("error", "max_connections", "auth_failed", "auth_timeout"):
            log.warning("%s: server says %s: %s", self.name, status, message)
            self._status.extra(**{"server message": f"{status}: {message}"})

    def _on_established(self) -> None:
        detail = f"{self._host} {self._market}, {','.join(self.config.subscriptions)}"
        if self._dropped_at is not None:
            self.reconnect_times.append(time.monotonic() - self._dropped_at)
            self._status.extra(**{"last reconnect": f"{self.reconnect_times[-1]:.2f} s"})
            self._dropped_at = None
        deadline = time.monotonic() + self.config.ack_timeout_s
        self._awaiting_ack = {s: deadline for s in self._awaiting_ack}
        self._status.set(SourceState.RUNNING, detail)

    def _check_ack_deadlines(self) -> None:
        """Backfill symbols whose subscription ack never came (servers differ in how they ack)."""
        if not self._awaiting_ack or self._established is None or not self._established.is_set():
            return
        now = time.monotonic()
        for symbol in [s for s, deadline in self._awaiting_ack.items() if deadline <= now]:
            del self._awaiting_ack[symbol]
            log.debug("%s: no subscription ack for %s; backfilling anyway", self.name, symbol)
            self._start_backfill(symbol)

    # -- backfill ---------------------------------------------------------------------------------

    def _start_backfill(self, symbol: str) -> None:
        old = self._backfills.pop(symbol, None)
        if old is not None:
            old.cancel()
        self._backfills[symbol] = asyncio.create_task(self._backfill(symbol, self._pump_generation))

    async def _backfill(self, symbol: str, generation: int) -> None:
        """Fetch the symbol's gap (all pages) and queue it; retry with backoff until it works."""
        backoff = Backoff(self.config.backfill_backoff)
        while True:
            covered = self._covered.get(symbol)
            gap = self._gaps.get(symbol)
            now_ms = int(self._clock() * 1000)
            start = covered - self.config.overlap_ms if covered is not None else initial_from_ms(now_ms)
            if gap is not None:
                start = min(start, gap)
            end = now_ms + MINUTE_MS
            try:
                key = self._key()
                if self._rest is None or self._rest_key != key:
                    self._rest = rest_client(self._market_client, key, self.config.rest_url,
                                             self.config.rest_timeout_s,
                                             self.config.rest_retries)
                    self._rest_key = key
                async with self._rest_slot:  # one REST call at a time: the client keeps one connection per host
                    self.backfill_requests += 1
                    bars, rejected = await asyncio.to_thread(fetch_minutes, self._rest, symbol, start, end)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next_delay()
                reason = mask(f"{type(exc).__name__}: {exc}", self._key())[:300]
                log.warning("%s: backfill of %s failed (%s); retrying in %.1f s", self.name, symbol, reason, delay)
                self._status.extra(backfill=f"{symbol} failing, retry in {delay:.0f} s")
                await asyncio.sleep(delay)
                continue
            if rejected:
                log.warning("%s: backfill of %s rejected %d bar(s), e.g. %s", self.name, symbol, len(rejected),
                            rejected[0])
            self._push(_Backfill(symbol, generation, bars, gap))
            self._status.extra(backfill="ok")
            return

    async def _publish_backfill(self, bus: Bus, fill: _Backfill) -> None:
        """Publish a symbol's backfill (minutes the stream did not deliver on this connection) in chunks.

        Once every chunk is stored, the symbol's covered mark moves to the newest minute known (backfill or
        stream) and the gap the backfill was fetched for is cleared, unless a newer one was recorded since.
        """
        symbol, current = fill.symbol, fill.generation == self._pump_generation
        delivered = self._stream_minutes.get(symbol, set()) if current else set()
        fresh = [b for b in fill.bars if b.start_ms not in delivered]
        chunks = [fresh[i:i + FRAME_BARS] for i in range(0, len(fresh), FRAME_BARS)] or [[]]
        advance = {}
        if current:
            advance[symbol] = max([b.start_ms for b in fill.bars] + [self._stream_max.get(symbol, -1)])
        outcome = {"stored": True}

        def settle(chunk: list[Bar], last: bool, stored: bool) -> None:
            outcome["stored"] = outcome["stored"] and stored
            self._settle(advance if last else {}, chunk, stored)
            if last and outcome["stored"] and fill.gap is not None and self._gaps.get(symbol) == fill.gap:
                del self._gaps[symbol]
                self._dirty = True

        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            await bus.publish(PriceBatch(chunk, on_stored=self._when_stored(
                lambda stored, chunk=chunk, last=last: settle(chunk, last, stored))))
        if self.config.track_published:
            for b in fresh:
                self.published_minutes[(symbol, b.start_ms)] += 1
        self.backfilled_bars += len(fresh)
        self._status.extra(**{"backfilled bars": self.backfilled_bars})
        if current:
            self._live.add(symbol)

    # -- stop ---------------------------------------------------------------------------------------

    async def _shutdown(self, main: asyncio.Task, pump: asyncio.Task, bus: Bus, drain: bool) -> None:
        if not main.done():
            main.cancel()
            await asyncio.gather(main, return_exceptions=True)
        if drain and not pump.done():
            deadline = time.monotonic() + 10
            while self._inbox and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await self._wait_acknowledged(10)
        if not pump.done():
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    def _save_state(self) -> None:
        self._state.save({"covered": dict(self._covered), "gaps": dict(self._gaps)})
        self._dirty = False


def _minutes(saved: object) -> dict[str, int]:
    """A saved ``symbol → minute`` object, without anything that is not one."""
    if not isinstance(saved, dict):
        return {}
    return {k: v for k, v in saved.items() if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)}
