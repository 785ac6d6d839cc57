"""A trading day of Guardian news on a virtual clock, through the real poller, pacing and matcher.

The real :class:`~backend.sources.guardian.GuardianSource` runs on an asyncio loop whose clock is
virtual (:class:`VirtualClockLoop`: when nothing is ready, time jumps to the next timer), and
talks HTTP to the local Guardian /search logic (:meth:`fakes.http_api.FakeApis.guardian_answer`,
the same code the socket server runs) through ``httpx.MockTransport`` — no sockets, so a whole
UTC day takes seconds. Articles become visible in the API at scheduled virtual times (their
``webPublicationDate`` a little earlier, as the Guardian indexes with a delay); the bus records
when each routed article reaches it and confirms it stored at once.

Measured: latency from API visibility to the bus (the pipeline adds milliseconds after that),
calls per day, the smallest gap between two calls, and whether every sweep covered every symbol.
"""

from __future__ import annotations

import asyncio
import json
import random
import selectors
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

from backend.bus.base import NewsBatch
from backend.model import WatchItem
from backend.sources.backoff import BackoffPolicy
from backend.sources.guardian import GuardianConfig, GuardianSource
from backend.watchlist import COMPANY_NAMES, default_watch_item
from fakes.http_api import FakeApis

DAY_S = 86_400
MON = datetime(2025, 2, 3, tzinfo=timezone.utc).timestamp()  # a Monday (New York session 14:30–21:00 UTC)
SESSION = (MON + 14.5 * 3600, MON + 21 * 3600)
SYMBOLS_20 = ("AAPL", "AMZN", "MSFT", "GOOGL", "META", "TSLA", "NVDA", "NFLX", "BRK.B", "JPM", "F", "TGT", "DIS",
              "INTC", "AMD", "BA", "WMT", "KO", "XOM", "ORCL")


class _InstantSelector(selectors.DefaultSelector):
    """Never blocks: with nothing ready it moves the loop's virtual clock to the next timer."""

    def __init__(self, loop: "VirtualClockLoop") -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout=None):
        ready = super().select(0)
        if not ready and timeout:
            self._loop.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual; sleeping costs no real time."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        super().__init__(_InstantSelector(self))

    def time(self) -> float:
        return self.now


@dataclass
class SimResult:
    """What a simulated day measured."""

    symbols: int
    daily_budget: int
    calls: int
    min_call_gap_s: float
    sweeps: int
    sweeps_covering_all: int
    latencies_s: list[float] = field(default_factory=list)  # every routed article, the whole day
    session_latencies_s: list[float] = field(default_factory=list)
    missed: int = 0  # about a watched company, visible in the API, never published
    routed_noise: int = 0  # namesake stories that reached the bus (should be none)
    call_times: list[float] = field(default_factory=list)  # virtual seconds since midnight UTC

    def pct(self, values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")

    def row(self) -> dict:
        s = self.session_latencies_s
        return {"symbols": self.symbols, "daily_budget": self.daily_budget, "calls": self.calls,
                "min_call_gap_s": round(self.min_call_gap_s, 3), "sweeps": self.sweeps,
                "sweeps_covering_all": self.sweeps_covering_all, "articles": len(self.latencies_s),
                "missed": self.missed, "routed_noise": self.routed_noise, "session_articles": len(s),
                "session_p50_s": round(statistics.median(s), 1) if s else None,
                "session_p95_s": round(self.pct(s, 95), 1), "session_max_s": round(max(s), 1) if s else None,
                "day_p95_s": round(self.pct(self.latencies_s, 95), 1)}


class _RecordingBus:
    """A bus that stores at once and records when each article arrived (virtual time)."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        self.loop = loop
        self.arrived: dict[str, float] = {}

    async def publish(self, batch: NewsBatch) -> None:
        for article in batch.articles:
            self.arrived.setdefault(article.id, self.loop.time())
        if batch.on_stored is not None:
            self.loop.call_soon(batch.on_stored, True)

    def publish_nowait(self, batch) -> None:
        raise NotImplementedError

    def pending(self) -> int:
        return 0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def news_schedule(symbols, rng: random.Random, per_symbol_day: float = 6.0, noise_day: float = 60.0):
    """(visible_at, published_at, section, title, trail, symbol or None) for one day, session-weighted.

    Company stories arrive 4× as often during the session; namesake noise (inflation targets,
    Doug Ford, the river) arrives all day and must not be routed.
    """
    events = []
    names = {s: COMPANY_NAMES.get(s, s).split(" OR ")[0].strip('"') for s in symbols}
    weights = (17.5 + 6.5 * 4)  # weighted hours in the day
    for symbol in symbols:
        n = rng.poisson(per_symbol_day) if hasattr(rng, "poisson") else _poisson(rng, per_symbol_day)
        for _ in range(n):
            t = _session_weighted_time(rng, weights)
            events.append((t, t - rng.uniform(0, 60), rng.choice(["business", "technology", "us-news", "media"]),
                           f"{names[symbol]} shares move as investors weigh quarterly results",
                           f"{names[symbol]} said sales rose", symbol))
    noise = ["Bank of England misses inflation target again", "Doug Ford calls Ontario election",
             "Apple growers warn of poor harvest", "Amazon rainforest fires hit record", "Meta-analysis of diets"]
    for _ in range(_poisson(rng, noise_day)):
        t = MON + rng.uniform(0, DAY_S)
        events.append((t, t - rng.uniform(0, 60), "world", rng.choice(noise), "", None))
    return sorted(events)


def _poisson(rng: random.Random, mean: float) -> int:
    n, t = 0, rng.expovariate(1.0)
    while t < mean:
        n += 1
        t += rng.expovariate(1.0)
    return n


def _session_weighted_time(rng: random.Random, weighted_hours: float) -> float:
    x = rng.uniform(0, weighted_hours)
    before = 14.5
    if x < before:
        return MON + x * 3600
    x -= before
    if x < 6.5 * 4:
        return SESSION[0] + x / 4 * 3600
    return SESSION[1] + (x - 6.5 * 4) * 3600


def simulate_day(symbols=SYMBOLS_20, daily_budget: int = 500, per_query: bool = False, seed: int = 15,
                 items: list[WatchItem] | None = None, faults: list[str] | None = None) -> SimResult:
    """Run the real poller for one UTC day (Monday) on a virtual clock and measure it.

    ``per_query=True`` makes every symbol its own request (the design before issue 15) by limiting
    the query length, so the same pacing code can be compared. ``faults`` are injected into the
    first answers (``429:SECONDS``, ``500``, ``malformed``…) to check that retries stay within the limits.
    """
    rng = random.Random(seed)
    items = items or [default_watch_item(s) for s in symbols]
    loop = VirtualClockLoop(start=0.0)
    apis = FakeApis(guardian_keys=("g-key",))
    calls: list[float] = []
    pending_faults = list(faults or [])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(loop.time())
        params = dict(request.url.params)
        status, body, headers = apis.guardian_answer(params)
        if pending_faults and status == 200:
            fault = pending_faults.pop(0)
            name, _, arg = fault.partition(":")
            if name == "429":
                return httpx.Response(429, json={"message": "API rate limit exceeded"},
                                      headers={"Retry-After": arg} if arg else {})
            if name in ("500", "503"):
                return httpx.Response(int(name), content=b"<html>error</html>")
            if name == "malformed":
                return httpx.Response(200, content=b"<html>Bad gateway</html>")
        return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)

    config = GuardianConfig(base_url="http://guardian.invalid", daily_budget=daily_budget,
                            max_q_chars=1 if per_query else GuardianConfig().max_q_chars,
                            backoff=BackoffPolicy(2.0, 300.0), transport=httpx.MockTransport(handler))
    source = GuardianSource(items, "g-key", config, clock=lambda: MON + loop.time())
    bus = _RecordingBus(loop)
    schedule = news_schedule(symbols, rng)
    visible: dict[str, tuple[float, str | None]] = {}

    def publish(n: int, event) -> None:
        visible_at, published_at, section, title, trail, symbol = event
        article_id = f"{section}/2025/feb/03/sim-{n}"
        apis.corpus.add(article_id, _iso(published_at), title, section, trail)
        visible[article_id] = (visible_at, symbol)

    for n, event in enumerate(schedule):
        loop.call_at(event[0] - MON, publish, n, event)

    async def day() -> None:
        task = asyncio.create_task(source.run(bus))
        await asyncio.sleep(DAY_S - 1)
        source.request_stop()
        await asyncio.wait_for(task, 60)

    try:
        loop.run_until_complete(day())
    finally:
        loop.close()
        apis.close()
    queries = [r["q"] for r in apis.guardian_requests if r.get("page", "1") == "1"]
    all_terms = [i.query for i in items]
    covering = sum(1 for q in queries if all(term in q for term in all_terms))
    result = SimResult(len(items), daily_budget, len(calls),
                       min((b - a for a, b in zip(calls, calls[1:])), default=float("inf")),
                       source.sweeps, covering, call_times=calls)
    for article_id, (visible_at, symbol) in visible.items():
        if symbol is None:
            continue
        arrived = bus.arrived.get(article_id)
        if arrived is None:
            result.missed += 1
            continue
        latency = MON + arrived - visible_at
        result.latencies_s.append(latency)
        if SESSION[0] <= visible_at < SESSION[1]:
            result.session_latencies_s.append(latency)
    result.routed_noise = sum(1 for a, (_, s) in visible.items() if s is None and a in bus.arrived)
    return result
