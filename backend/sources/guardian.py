"""The Guardian Open Platform news poller (``/search`` on httpx, async), watermarked and deduplicated.

One query per distinct watch query: ``q``, ``section`` (the items' sections joined by
``|``), ``from-date`` from a persisted watermark minus an overlap, ``order-by=newest``
(set explicitly: with ``q`` the default is relevance), ``page-size`` ≤ 50 and
``show-fields=trailText,thumbnail``. Pages are followed until an article older than the
watermark minus the overlap (articles can be indexed a little after their publication
time, which the overlap absorbs).

Each page is parsed once; its articles are routed to the query's watch items by the
relevance matcher and published as a :class:`~backend.bus.base.NewsBatch`.

No duplicate, no missed article: results already sent for a query unchanged are not sent
again; a changed one (a republished live blog) is, and the store updates it in place by
id; an article found by two queries is sent for both and the store merges it into one
article with both symbols. A query's watermark only advances after a sweep that reached
it, once the pipeline confirms that everything the sweep sent is stored, so a crash or
restart at worst re-sends articles, which the store merges.

The developer key's budget: a token bucket (1 call/s) and a persisted daily count (500
calls/day); the poll interval spreads the calls left over the rest of the day
(:mod:`backend.sources.guardian_budget`). 429 waits for Retry-After; timeouts, 5xx,
other errors and malformed bodies back off exponentially with jitter; 401/403 put the
source in ``failed`` until the key changes. The key travels in the ``api-key`` query
parameter and is masked wherever a URL could be logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import httpx

from backend.bus.base import Bus, NewsBatch
from backend.model import MINUTE_MS, WatchItem
from backend.sources.backoff import Backoff, BackoffPolicy, TokenBucket
from backend.sources.base import SourceState, SourceStatus
from backend.sources.guardian_budget import DailyBudget, sweep_interval_s
from backend.sources.live import KeyProvider, LiveStatus, StoppableSource, key_provider, mask, mask_logger
from backend.sources.state import JsonState
from backend.timeutil import DAY_MS
from backend.sources.news_routing import route_articles
from backend.wire.guardian import article_from_result, parse_search_page

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
    min_interval_s: float = 60.0
    market_weight: float = 4.0
    reserve: float = 0.05
    page_size: int = MAX_PAGE_SIZE
    overlap_ms: int = 30 * MINUTE_MS
    initial_lookback_ms: int = 2 * DAY_MS
    timeout_s: float = 10.0
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(2.0, 300.0))
    max_retry_after_s: float = 24 * 3600.0
    key_check_s: float = 5.0
    state_path: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")


@dataclass(slots=True, frozen=True)
class NewsQuery:
    """One Guardian query and the watch items (symbols) it serves."""

    query: str
    sections: tuple[str, ...]
    symbols: tuple[str, ...]


def queries_for(items: list[WatchItem]) -> dict[str, NewsQuery]:
    """Group watch items by query; sections are the union (none if any item has none)."""
    grouped: dict[str, list[WatchItem]] = {}
    for item in items:
        grouped.setdefault(item.query, []).append(item)
    out = {}
    for query, group in grouped.items():
        if any(not i.sections for i in group):
            sections: tuple[str, ...] = ()
        else:
            sections = tuple(sorted({s for i in group for s in i.sections}))
        out[query] = NewsQuery(query, sections, tuple(i.symbol for i in group))
    return out


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


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


class GuardianSource(StoppableSource):
    """The news source (see the module docstring)."""

    name = "Guardian news"

    def __init__(self, watchlist: list[WatchItem], api_key: str | KeyProvider, config: GuardianConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.config = config or GuardianConfig()
        self._key = key_provider(api_key)
        self._clock = clock
        self._status = LiveStatus(self.name, log)
        self._state = JsonState(self.config.state_path)
        saved = self._state.load()
        self._committed: dict[str, int] = {k: v for k, v in (saved.get("watermarks") or {}).items()
                                           if isinstance(v, int)}
        self._pending: dict[str, int] = {}
        self._budget = DailyBudget.from_json(self.config.daily_budget, saved.get("budget"))
        self._bucket = TokenBucket(self.config.calls_per_second, 1.0)
        self._backoff = Backoff(self.config.backoff)
        self._seen: dict[str, dict[str, tuple[str, int]]] = {}
        self._queries: dict[str, NewsQuery] = {}
        self._due: dict[str, float] = {}
        self._wake: asyncio.Event | None = None
        self._rejected_key: str | None = None
        self.calls = 0  # HTTP requests made by this instance
        self.rejected: list[str] = []
        self._status.set(SourceState.STOPPED)
        self.set_watchlist(watchlist)

    # -- Source protocol ----------------------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self._status.status

    def set_watchlist(self, items: list[WatchItem]) -> None:
        """New queries are polled at once; dropped ones stop. Call on the source's loop (the pipeline does)."""
        queries = queries_for(items)
        self._items = {q: [i for i in items if i.query == q] for q in queries}
        for q, nq in queries.items():
            if self._queries.get(q) != nq:
                self._due[q] = 0.0
        for q in list(self._due):
            if q not in queries:
                del self._due[q]
        self._queries = queries
        if self._wake is not None:
            self._wake.set()
        self._show_budget()

    async def run(self, bus: Bus) -> None:
        """Poll until cancelled or asked to stop."""
        stop = self._bind_loop()
        self._wake = asyncio.Event()
        async with httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=False) as http:
            main = asyncio.create_task(self._poll_forever(http, bus), name="guardian-poll")
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
                await self._wait_acknowledged(10)  # watermarks advance as the pipeline confirms the stores
            finally:
                for task in (main, stopper):
                    task.cancel()
                await asyncio.gather(main, stopper, return_exceptions=True)
                self._save()
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
            if not self._queries:
                self._status.set(SourceState.RUNNING, "nothing to watch")
                await self._sleep_or_wake(3600)
                continue
            query = min(self._queries, key=lambda q: self._due.get(q, 0.0))
            wait = self._due.get(query, 0.0) - self._clock()
            if wait > 0:
                if self.state is not SourceState.RUNNING:
                    self._status.set(SourceState.RUNNING, self._detail())
                await self._sleep_or_wake(wait)
                continue
            try:
                await self._sweep(http, bus, self._queries[query], key)
            except _KeyRejected as exc:
                self._rejected_key = key
                self._status.set(SourceState.FAILED, f"the Guardian rejected the API key ({exc}); polling is "
                                 "paused until the key changes in Settings → API keys")
                continue
            interval = self._interval()
            if query in self._queries:
                self._due[query] = self._clock() + (interval if interval is not None else self._until_reset())
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
        c = self.config
        return sweep_interval_s(len(self._queries), self._budget.remaining(self._now_ms()), self._now_ms(),
                                c.market_weight, c.min_interval_s, c.reserve, c.daily_budget)

    def _until_reset(self) -> float:
        now = self._now_ms()
        return (DailyBudget.reset_at_ms(now) - now) / 1000

    def _detail(self) -> str:
        interval = self._interval()
        every = "budget used up until 00:00 UTC" if interval is None else f"each query every {interval / 60:.1f} min"
        return f"{len(self._queries)} queries, {every}"

    def _show_budget(self) -> None:
        interval = self._interval()
        self._status.extra(**{
            "calls left today": self._budget.remaining(self._now_ms()),
            "calls today": self._budget.used,
            "queries": len(self._queries),
            "poll every": "—" if interval is None else f"{interval / 60:.1f} min",
        })

    # -- one query ----------------------------------------------------------------------------------

    def _watermark(self, query: str) -> int | None:
        return self._pending.get(query, self._committed.get(query))

    async def _sweep(self, http: httpx.AsyncClient, bus: Bus, nq: NewsQuery, key: str) -> None:
        """Poll one query newest-first until its watermark; send what is new or changed, routed to its symbols."""
        watermark = self._watermark(nq.query)
        floor = watermark - self.config.overlap_ms if watermark else self._now_ms() - self.config.initial_lookback_ms
        params = {"q": nq.query, "from-date": _date(floor), "order-by": "newest",
                  "page-size": str(self.config.page_size), "show-fields": "trailText,thumbnail"}
        if nq.sections:
            params["section"] = "|".join(nq.sections)
        newest = watermark or 0
        seen = self._seen.setdefault(nq.query, {})
        sweep = {"stored": True}

        def page_stored(stored: bool) -> None:
            sweep["stored"] = sweep["stored"] and stored

        page_no = 1
        while True:
            results, current, pages = await self._fetch_page(http, dict(params, page=str(page_no)), key)
            fresh, marks, page_newest, reached_floor = self.triage(results, nq.query, floor, seen)
            newest = max(newest, page_newest)
            if fresh:
                routed = route_articles(fresh, self._items.get(nq.query, ()))
                await bus.publish(NewsBatch(routed, on_stored=self._when_stored(page_stored)))
                self._status.tracker.count(len(fresh))
                for article_id, fp, published in marks:
                    seen[article_id] = (fp, published)
            if reached_floor or not results or current >= pages:
                break
            page_no += 1
        self._pending[nq.query] = newest
        # The watermark is committed once everything before this (empty) batch is stored: batches are acknowledged
        # in order, and one given up on keeps the old watermark, so its articles are fetched again.
        await bus.publish(NewsBatch([], on_stored=self._when_stored(
            lambda stored, query=nq.query, mark=newest: self._commit_watermark(query, mark, stored and sweep["stored"]))))
        for article_id in [i for i, (_, p) in seen.items() if p < floor - DAY_MS]:
            del seen[article_id]

    def _commit_watermark(self, query: str, mark: int, stored: bool) -> None:
        """A sweep's articles are stored (or not): make its watermark durable, or fetch them again next sweep."""
        if not stored:
            if self._pending.get(query) == mark:
                del self._pending[query]
            log.warning("%s: articles of a sweep for %r were not stored; they will be fetched again", self.name, query)
            return
        if mark > self._committed.get(query, -1):
            self._committed[query] = mark
            self._save()

    def triage(self, results: list, query: str, floor: int, seen: dict) -> tuple[list, list, int, bool]:
        """Split a page's raw results: (new or changed articles, their seen-marks, newest time, floor reached).

        Invalid items are rejected with a logged reason; nothing here raises for bad content.
        """
        fresh, marks, newest, reached_floor = [], [], 0, False
        for item in results:
            article, reason = article_from_result(item, frozenset(), query, self._now_ms())
            if article is None:
                self.rejected.append(reason)
                log.warning("%s: result for %r rejected: %s", self.name, query, reason)
                continue
            newest = max(newest, article.published_ms)
            if article.published_ms < floor:
                reached_floor = True
                continue
            fp = _fingerprint(item)
            if seen.get(article.id, ("",))[0] != fp:
                fresh.append(article)
                marks.append((article.id, fp, article.published_ms))
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
