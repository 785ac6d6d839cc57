"""A local websocket server that speaks the Polygon/Massive stocks protocol.

On connect it sends ``connected``; the client's ``{"action":"auth","params":KEY}`` gets
``auth_success`` or (bad key) ``auth_failed`` and a close; ``subscribe``/``unsubscribe``
with ``AM.SYM``/``A.SYM`` (or ``AM.*``) are acknowledged per topic with
``subscribed to: …``/``unsubscribed to: …``. Each market tick streams the minute's ``AM``
bars, ``A`` second bars and corrections to the connections subscribed to them. Tests can
drop every connection (abort, or a 1011/1000 close), inject raw frames, and read counters.
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from fakes.market import FakeMarket, wire


class _Conn:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.authed = False
        self.subs: set[str] = set()

    def wants(self, ev: str, sym: str) -> bool:
        return f"{ev}.{sym}" in self.subs or f"{ev}.*" in self.subs


class FakePolygonWs:
    """Run on a :class:`~fakes.loop_thread.LoopThread`: ``thread.call(server.start())``."""

    def __init__(self, market: FakeMarket, valid_keys=("good-key",)) -> None:
        self.market = market
        self.valid_keys = set(valid_keys)
        self.conns: set[_Conn] = set()
        self.port = 0
        self.connections_total = 0
        self.auth_attempts = 0
        self.auth_failures = 0
        self.actions: list[tuple[float, str, str]] = []  # (monotonic time, action, params)
        self.drops = 0
        self._server = None
        self._ticker: asyncio.Task | None = None
        self._handlers: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stocks"

    async def start(self) -> "FakePolygonWs":
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        await self.stop_ticking()
        if self._server is not None:
            self._server.close(close_connections=False)
            for task in list(self._handlers):  # a client that vanished mid-handshake would hold them open
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- market ---------------------------------------------------------------------------------------

    async def start_ticking(self, tick_s: float) -> None:
        async def tick_forever():
            while True:
                await self.tick()
                await asyncio.sleep(tick_s)

        self._ticker = asyncio.create_task(tick_forever())

    async def stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None

    async def tick(self, n: int = 1) -> None:
        """Complete ``n`` minutes and stream them to subscribers."""
        for _ in range(n):
            am, seconds, corrections = self.market.advance()
            for conn in list(self.conns):
                if not conn.authed:
                    continue
                frame = [wire(m) for m in seconds if conn.wants("A", m["sym"])]
                frame += [wire(m) for m in am + corrections if conn.wants("AM", m["sym"])]
                if frame:
                    await self._send(conn, frame)

    async def inject(self, text: str) -> None:
        """Send a raw text frame (possibly garbage) to every authenticated connection."""
        for conn in list(self.conns):
            if conn.authed:
                try:
                    await conn.ws.send(text)
                except ConnectionClosed:
                    pass

    async def drop_all(self, how: str = "abort") -> int:
        """Drop every connection: ``abort`` (no close frame, 1006), ``1011`` or ``1000``; return how many."""
        dropped = 0
        for conn in list(self.conns):
            self.conns.discard(conn)
            dropped += 1
            if how == "abort":
                conn.ws.transport.abort()
            else:
                await conn.ws.close(int(how), "dropped by test")
        self.drops += dropped
        return dropped

    # -- protocol ---------------------------------------------------------------------------------------

    async def _send(self, conn: _Conn, messages: list[dict]) -> None:
        try:
            await conn.ws.send(json.dumps(messages, separators=(",", ":")))
        except ConnectionClosed:
            self.conns.discard(conn)

    async def _handle(self, ws) -> None:
        conn = _Conn(ws)
        self.connections_total += 1
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                    action, params = msg["action"], str(msg.get("params", ""))
                except (ValueError, KeyError, TypeError):
                    await self._send(conn, [{"ev": "status", "status": "error", "message": "invalid message"}])
                    continue
                self.actions.append((time.monotonic(), action, "***" if action == "auth" else params))
                if action == "auth":
                    self.auth_attempts += 1
                    if params in self.valid_keys:
                        conn.authed = True
                        self.conns.add(conn)
                        await self._send(conn, [{"ev": "status", "status": "auth_success", "message": "authenticated"}])
                    else:
                        self.auth_failures += 1
                        await self._send(conn, [{"ev": "status", "status": "auth_failed",
                                                 "message": "authentication failed"}])
                        await ws.close(1008, "authentication failed")
                        return
                elif not conn.authed:
                    await self._send(conn, [{"ev": "status", "status": "error", "message": "not authorized"}])
                elif action in ("subscribe", "unsubscribe"):
                    acks = []
                    for topic in filter(None, (t.strip() for t in params.split(","))):
                        if action == "subscribe":
                            conn.subs.add(topic)
                        else:
                            conn.subs.discard(topic)
                        acks.append({"ev": "status", "status": "success",
                                     "message": f"{action}d to: {topic}"})
                    await self._send(conn, acks)
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self._handlers.discard(task)
            ws.transport.abort()
