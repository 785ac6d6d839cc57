"""The Guardian Open Platform news poller (``/search`` on httpx, async): one sweep for the whole watchlist.

A sweep is one request for every watch item (see :mod:`backend.sources.guardian_sweep`): the
items' queries joined with ``OR``, ``order-by=newest`` (set explicitly: with ``q`` the default
is relevance), no section filter by default, ``from-date`` (date and time) at the items'
watermark minus an overlap, ``page-size`` 50, ``show-fields=trailText,thumbnail`` and
``show-blocks=body:published-since:…`` (a republished live blog brings its new entries in the
same call). Pages are followed until an article older than the floor. Each result is routed
locally to the symbols it is about by the relevance matcher
(:func:`backend.sources.news_routing.route_symbols`); results about none are dropped. Per-symbol
queries and sections typed in the settings are overrides that join the same sweep (their
sections are checked locally). Default items take their query from the company's names
(:mod:`backend.watchlist`), which :class:`~backend.sources.reference.ReferenceLookup` keeps
fresh before a sweep when it is given one.

No duplicate, no missed article: a result already sent unchanged (same content, same symbols) is
not sent again; a changed one (a republished live blog) is, and the store updates it in place by
id. Watermarks (one per item and query) only advance after a sweep reached them, once the
pipeline confirms that everything the sweep sent is stored (``NewsBatch.on_stored``), so a crash
or restart at worst re-sends articles, which the store merges.

Budget: a token bucket (``calls_per_second``) and a persisted count of today's calls against
``daily_budget`` (the ``guardian_calls_per_day`` setting; 500 for a developer key). The time to
the next sweep spreads the calls left over the rest of the UTC day, New York's regular session
weighted ``market_weight`` times, never under ``min_interval_s`` (30 s)
(:mod:`backend.sources.guardian_budget`). 429 waits for Retry-After; timeouts, 5xx, other errors
and malformed bodies back off exponentially with jitter; 401/403 put the source in ``failed``
until the key changes. The key travels in the ``api-key`` query parameter and is masked wherever
a URL could be logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import httpx

from backend.bus.base import Bus, NewsBatch
from backend.model import MINUTE_MS, WatchItem
from backend.sources.backoff import Backoff, BackoffPolicy, TokenBucket
from backend.sources.base import SourceState, SourceStatus
from backend.sources.guardian_budget import DailyBudget, sweep_interval_s
from backend.sources.guardian_sweep import (MAX_Q_CHARS, SweepQuery, blog_update, plan_sweep, watermark_key,
                                            with_blog_update)
from backend.sources.live import KeyProvider, LiveStatus, StoppableSource, key_provider, mask, mask_logger
from backend.sources.news_routing import route_symbols
from backend.sources.reference import ReferenceLookup
from backend.sources.state import JsonState
from backend.timeutil import DAY_MS
from backend.watchlist import effective_item
from backend.wire.guardian import article_from_result, format_time_ms, parse_search_page

log = logging.getLogger(__name__)
mask_logger("httpx")

DEFAULT_URL = "https://content.guardianapis.com"
MAX_PAGE_SIZE = 50


@dataclass(slots=True)
class GuardianConfig:
    """Endpoint, budget and timings (tests shrink the timings to milliseconds)."""

    base_url: str = DEFAULT_URL
    daily_budget: int = 500
    calls_per_second: float = 1.0
    min_interval_s: float = 30.0  # the floor between two sweeps
    market_weight: float = 4.0
    reserve: float = 0.05
    page_size: int = MAX_PAGE_SIZE
    overlap_ms: int = 30 * MINUTE_MS
    initial_lookback_ms: int = 2 * DAY_MS
    max_q_chars: int = MAX_Q_CHARS
    blocks: bool = True  # ask for live blogs' entries since the floor (show-blocks)
    timeout_s: float = 10.0
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(2.0, 300.0))
    max_retry_after_s: float = 24 * 3600.0
    key_check_s: float = 5.0
    state_path: Path | None = None
    transport: object | None = None  # an httpx transport (in-process servers for simulations); None = the network

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        if self.daily_budget < 1:
            raise ValueError("daily_budget must be at least 1 call")


class _Transient(Exception):
    """Worth retrying after a backoff (timeout, 5xx, malformed body…)."""


class _RateLimited(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"HTTP 429, Retry-After {retry_after}")
        self.retry_after = retry_after


class _KeyRejected(Exception):
    """401/403: the key is not accepted; wait for a new one."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def page_results(body: bytes | str) -> tuple[list, int, int]:
    """A ``/search`` body's raw results, current page and page count; raises _Transient if unusable."""
    page = parse_search_page(body)
    if page.error:
        raise _Transient(f"malformed response ({page.error[:200]})")
    return json.loads(body)["response"]["results"], page.current_page, page.pages


def _fingerprint(item: dict) -> str:
    return hashlib.blake2b(json.dumps(item, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def _datetime(ms: int) -> str:
    """``from-date`` with a time (the API takes ``YYYY-MM-DDTHH:MM:SSZ``), so a sweep starts at its floor."""
    return format_time_ms(max(0, ms))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class GuardianSource(StoppableSource):
    """The news source (see the module docstring)."""

    name = "Guardian news"

    def __init__(self, watchlist: list[WatchItem], api_key: str | KeyProvider, config: GuardianConfig | None = None,
                 clock: Callable[[], float] = time.time, reference: ReferenceLookup | None = None) -> None:
        super().__init__()
        self.config = config or GuardianConfig()
        self._key = key_provider(api_key)
        self._clock = clock
        self._reference = reference
        self._status = LiveStatus(self.name, log)
        self._state = JsonState(self.config.state_path)
        saved = self._state.load()
        self._committed: dict[str, int] = {k: v for k, v in (saved.get("watermarks") or {}).items()
                                           if isinstance(k, str) and "|" in k and isinstance(v, int)}
        self._pending: dict[str, int] = {}
        self._budget = DailyBudget.from_json(self.config.daily_budget, saved.get("budget"))
        self._bucket = TokenBucket(self.config.calls_per_second, 1.0,
                                   clock=time.monotonic if clock is time.time else clock)
        self._backoff = Backoff(self.config.backoff)
        self._seen: dict[str, tuple[str, int]] = {}  # article id → (fingerprint of result + routing, published)
        self._items: list[WatchItem] = []
        self._next_sweep = 0.0
        self._last_plan: list[SweepQuery] = []
        self._wake: asyncio.Event | None = None
        self._rejected_key: str | None = None
        self.calls = 0  # HTTP requests made by this instance
        self.sweeps = 0
        self.rejected: list[str] = []
        self._status.set(SourceState.STOPPED)
        self.set_watchlist(watchlist)

    # -- Source protocol ----------------------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self._status.status

    def fail(self, reason: str) -> None:
        """Show the source as failed (a missing package: nothing to retry until it is installed)."""
        self._status.set(SourceState.FAILED, reason)

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """A changed watchlist is swept at once (new items are caught up). Call on the source's loop."""
        items = list(items)
        if items != self._items:
            self._items = items
            self._next_sweep = 0.0
            if self._wake is not None:
                self._wake.set()
        self._show_budget()

    def effective_items(self) -> list[WatchItem]:
        """The watch items as swept: defaults with their current derived query and no sections, overrides as typed."""
        return [effective_item(i) for i in self._items]

    def plan(self) -> list[SweepQuery]:
        """The requests the next sweep makes (one for the whole watchlist unless the query is too long)."""
        marks = {**self._committed, **self._pending}
        return plan_sweep(self.effective_items(), marks, self._now_ms(), self.config.overlap_ms,
                          self.config.initial_lookback_ms, self.config.max_q_chars)

    async def run(self, bus: Bus) -> None:
        """Poll until cancelled or asked to stop."""
        stop = self._bind_loop()
        self._wake = asyncio.Event()
        async with httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=False,
                                     transport=self.config.transport) as http:
            main = asyncio.create_task(self._poll_forever(http, bus), name="guardian-poll")
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if main.done() and not main.cancelled() and main.exception() is not None:
                    raise main.exception()
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
                await self._wait_acknowledged(10)  # watermarks advance as the pipeline confirms the stores
            finally:
                for task in (main, stopper):
                    task.cancel()
                await asyncio.gather(main, stopper, return_exceptions=True)
                self._save()
                if self.state is not SourceState.FAILED:
                    self._status.set(SourceState.STOPPED)
                self._mark_stopped()

    # -- scheduling ---------------------------------------------------------------------------------

    async def _poll_forever(self, http: httpx.AsyncClient, bus: Bus) -> None:
        while True:
            key = self._key()
            if not key:
                self._status.set(SourceState.FAILED, "no Guardian API key: add one in Settings → API keys "
                                 "or set GUARDIAN_API_KEY")
                await self._wait_key_change("")
                continue
            if key == self._rejected_key:
                await self._wait_key_change(key)
                continue
            if not self._items:
                self._status.set(SourceState.RUNNING, "nothing to watch")
                await self._sleep_or_wake(3600)
                continue
            wait = self._next_sweep - self._clock()
            if wait > 0:
                if self.state is not SourceState.RUNNING:
                    self._status.set(SourceState.RUNNING, self._detail())
                await self._sleep_or_wake(wait)
                continue
            if self._reference is not None:
                await self._reference.refresh([i.symbol for i in self._items], http)
            try:
                await self.sweep(http, bus, key)
            except _KeyRejected as exc:
                self._rejected_key = key
                self._status.set(SourceState.FAILED, f"the Guardian rejected the API key ({exc}); polling is "
                                 "paused until the key changes in Settings → API keys")
                continue
            interval = self._interval()
            self._next_sweep = self._clock() + (interval if interval is not None else self._until_reset())
            self._status.set(SourceState.RUNNING, self._detail())
            self._show_budget()

    @property
    def state(self) -> SourceState:
        return self._status.state

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, seconds))
        except asyncio.TimeoutError:
            pass

    async def _wait_key_change(self, rejected: str) -> None:
        while self._key() == rejected:
            await asyncio.sleep(self.config.key_check_s)
        self._rejected_key = None
        log.info("%s: API key changed; polling again", self.name)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _interval(self) -> float | None:
        """Seconds until the next sweep: the calls left spread over the day (see guardian_budget)."""
        c = self.config
        calls = max(1, len(self._last_plan) or len(self.plan()))
        return sweep_interval_s(calls, self._budget.remaining(self._now_ms()), self._now_ms(),
                                c.market_weight, c.min_interval_s, c.reserve, c.daily_budget)

    def _until_reset(self) -> float:
        now = self._now_ms()
        return (DailyBudget.reset_at_ms(now) - now) / 1000

    def _detail(self) -> str:
        interval = self._interval()
        queries = max(1, len(self._last_plan))
        every = ("budget used up until 00:00 UTC" if interval is None
                 else f"a sweep every {_duration(interval)}")
        return f"{len(self._items)} symbols in {queries} {'query' if queries == 1 else 'queries'}, {every}"

    def _show_budget(self) -> None:
        interval = self._interval()
        self._status.extra(**{
            "calls left today": self._budget.remaining(self._now_ms()),
            "calls today": self._budget.used,
            "daily limit": self.config.daily_budget,
            "symbols": len(self._items),
            "queries per sweep": max(1, len(self._last_plan)),
            "sweep every": "—" if interval is None else _duration(interval),
        })

    # -- one sweep ----------------------------------------------------------------------------------

    async def sweep(self, http: httpx.AsyncClient, bus: Bus, key: str) -> None:
        """Every query of the plan, newest first to its floor; publish what is new, routed to the items' symbols."""
        plan = self.plan()
        self._last_plan = plan
        self.sweeps += 1
        for query in plan:
            await self._sweep_query(http, bus, query, key)

    async def _sweep_query(self, http: httpx.AsyncClient, bus: Bus, query: SweepQuery, key: str) -> None:
        params = {"q": query.q, "from-date": _datetime(query.floor_ms), "order-by": "newest",
                  "page-size": str(self.config.page_size), "show-fields": "trailText,thumbnail"}
        if self.config.blocks:
            params["show-blocks"] = f"body:published-since:{max(0, query.floor_ms)}"
        if query.sections:
            params["section"] = "|".join(query.sections)
        marks = [watermark_key(i) for i in query.items]
        newest = max([self._pending.get(m, self._committed.get(m, 0)) for m in marks] + [0])
        sweep = {"stored": True}

        def page_stored(stored: bool) -> None:
            sweep["stored"] = sweep["stored"] and stored

        page_no = 1
        while True:
            results, current, pages = await self._fetch_page(http, dict(params, page=str(page_no)), key)
            fresh, seen_marks, page_newest, reached_floor = self.triage(results, query, query.floor_ms)
            newest = max(newest, page_newest)
            if fresh:
                await bus.publish(NewsBatch(fresh, on_stored=self._when_stored(page_stored)))
                self._status.tracker.count(len(fresh))
            for article_id, fp, published in seen_marks:
                self._seen[article_id] = (fp, published)
            if reached_floor or not results or current >= pages:
                break
            page_no += 1
        for mark in marks:
            self._pending[mark] = newest
        # The watermarks are committed once everything before this (empty) batch is stored: batches are acknowledged
        # in order, and one given up on keeps the old watermarks, so its articles are fetched again.
        await bus.publish(NewsBatch([], on_stored=self._when_stored(
            lambda stored, marks=marks, mark=newest: self._commit_watermarks(marks, mark, stored and sweep["stored"]))))
        horizon = query.floor_ms - DAY_MS
        for article_id in [i for i, (_, p) in self._seen.items() if p < horizon]:
            del self._seen[article_id]

    def _commit_watermarks(self, marks: list[str], mark: int, stored: bool) -> None:
        """A query's articles are stored (or not): make its watermarks durable, or fetch them again next sweep."""
        if not stored:
            for m in marks:
                if self._pending.get(m) == mark:
                    del self._pending[m]
            log.warning("%s: articles of a sweep were not stored; they will be fetched again", self.name)
            return
        changed = False
        for m in marks:
            if mark > self._committed.get(m, -1):
                self._committed[m] = mark
                changed = True
        if changed:
            self._save()

    def triage(self, results: list, query: SweepQuery, floor: int) -> tuple[list, list, int, bool]:
        """Split a page's raw results: (new or changed articles routed to symbols, seen-marks, newest, floor reached).

        An article about none of the query's items is not published (it is remembered, so a later change to it
        is looked at again). Invalid items are rejected with a logged reason; nothing here raises for bad content.
        """
        fresh, marks, newest, reached_floor = [], [], 0, False
        for item in results:
            article, reason = article_from_result(item, frozenset(), query.q, self._now_ms())
            if article is None:
                self.rejected.append(reason)
                log.warning("%s: result rejected: %s", self.name, reason)
                continue
            newest = max(newest, article.published_ms)
            if article.published_ms < floor:
                reached_floor = True
                continue
            shown, routed = article, article
            update = blog_update(item)
            if update is not None:
                shown, routed = with_blog_update(article, update)
            symbols = route_symbols(routed, query.items)
            # Blocks since the floor change as the floor moves: only the newest entry counts as a change.
            fp = _fingerprint({"result": {k: v for k, v in item.items() if k != "blocks"}, "symbols": sorted(symbols),
                               "latest": update and (update.newest_ms, update.latest)})
            if self._seen.get(article.id, ("",))[0] == fp:
                continue
            marks.append((article.id, fp, article.published_ms))
            if symbols:  # tagged with the queries of the items it is about, not the sweep's whole q
                fresh.append(replace(shown, symbols=frozenset(symbols),
                                     queries=frozenset(i.query for i in query.items if i.symbol in symbols)))
        return fresh, marks, newest, reached_floor

    async def _fetch_page(self, http: httpx.AsyncClient, params: dict, key: str) -> tuple[list[dict], int, int]:
        """One page, retried through 429s, timeouts, 5xx and malformed bodies; raises _KeyRejected."""
        while True:
            try:
                results, current, pages = page_results(await self._call(http, params, key))
            except _RateLimited as exc:
                delay = exc.retry_after if exc.retry_after is not None else self._backoff.next_delay()
                delay = min(delay, self.config.max_retry_after_s)
                self._status.set(SourceState.BACKING_OFF,
                                 f"rate limited by the Guardian (HTTP 429); retrying in {delay:.3g} s")
                await asyncio.sleep(delay)
                continue
            except _Transient as exc:
                delay = self._backoff.next_delay()
                self._status.set(SourceState.BACKING_OFF, f"{mask(str(exc), key)}; retrying in {delay:.3g} s")
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            if self.state is not SourceState.RUNNING:
                self._status.set(SourceState.RUNNING, self._detail())
            return results, current, pages

    async def _call(self, http: httpx.AsyncClient, params: dict, key: str) -> bytes:
        """One budgeted HTTP request; classify the outcome."""
        while self._budget.remaining(self._now_ms()) <= 0:
            wait = self._until_reset()
            self._status.set(SourceState.BACKING_OFF, f"today's {self.config.daily_budget} Guardian calls are used "
                             f"up; polling resumes after 00:00 UTC (in {wait / 3600:.1f} h)")
            self._show_budget()
            await asyncio.sleep(min(wait, 600))
        await self._bucket.acquire()
        self._budget.spend(self._now_ms())
        self.calls += 1
        self._show_budget()
        self._save()
        url = self.config.base_url.rstrip("/") + "/search"
        try:
            resp = await http.get(url, params=dict(params, **{"api-key": key}))
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {self.config.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise _Transient(f"request failed ({type(exc).__name__}: {mask(str(exc), key)[:200]})") from None
        code = resp.status_code
        if code in (401, 403):
            raise _KeyRejected(f"HTTP {code}: {_message(resp)}")
        if code == 429:
            raise _RateLimited(parse_retry_after(resp.headers.get("Retry-After"), time.time()))
        if code >= 500:
            raise _Transient(f"server error HTTP {code}")
        if code != 200:
            raise _Transient(f"HTTP {code}: {_message(resp)}")
        return resp.content

    def _save(self) -> None:
        self._state.save({"watermarks": dict(self._committed), "budget": self._budget.to_json()})


def _message(resp: httpx.Response) -> str:
    """The API's error message from a JSON body, or the start of the body."""
    try:
        data = resp.json()
        if isinstance(data, dict):
            inner = data.get("response") if isinstance(data.get("response"), dict) else data
            return str(inner.get("message", ""))[:200] or resp.reason_phrase
    except ValueError:
        pass
    return resp.text[:200] or resp.reason_phrase
