"""Company names for any ticker, from Polygon/Massive reference data, cached next to the store.

``GET /v3/reference/tickers/{ticker}`` answers ``{"status": "OK", "results": {"ticker": "F",
"name": "Ford Motor Company", ...}}``. The news side needs that name to find a company's
stories ("Ford", not "F"), so :class:`ReferenceLookup` fetches it on the sources' event loop
(httpx, async, the key in an ``Authorization: Bearer`` header) and :class:`NameCache` keeps it
in ``$TICKERWIRE_HOME/ticker_names.json``, written atomically like the sources' other state.
The cache is the store for this: the names are read by the Guardian poller and the relevance
matcher (pipeline thread) and by the settings dialog (GUI thread, without any network call),
which the SQLite store's worker-thread-only access would not allow. Names are refreshed
weekly; a ticker the API does not know is remembered as such for a day; a failed lookup is
retried after a backoff, and meanwhile the built-in table (:mod:`backend.watchlist`) answers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote

from backend.sources.state import JsonState

log = logging.getLogger(__name__)

CACHE_FILE = "ticker_names.json"
REFRESH_S = 7 * 86_400  # names change rarely: a weekly look keeps renames (Facebook → Meta) in view
UNKNOWN_RETRY_S = 86_400  # a ticker the API does not know (404) is asked about again a day later
FAILED_RETRY_S = (60.0, 3_600.0)  # first and largest wait after a failed lookup (doubling)


class NameCache:
    """``symbol → legal name`` with fetch times, persisted as JSON (thread-safe, re-read when the file changes)."""

    def __init__(self, path: Path | None) -> None:
        self._state = JsonState(path)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._names: dict[str, dict] = {}
        self._reload()

    def _reload(self) -> None:
        path = self._state.path
        mtime = path.stat().st_mtime if path is not None and path.exists() else None
        if mtime == self._mtime and (self._names or mtime is None):
            return
        data = self._state.load()
        names = data.get("names") if isinstance(data.get("names"), dict) else {}
        self._names = {k: v for k, v in names.items() if isinstance(k, str) and isinstance(v, dict)
                       and isinstance(v.get("fetched"), (int, float))}
        self._mtime = mtime

    def name(self, symbol: str) -> str | None:
        """The company's name, if known (``None``: unknown, never looked up, or the API does not know it)."""
        with self._lock:
            self._reload()
            entry = self._names.get(symbol)
        name = entry.get("name") if entry else None
        return name if isinstance(name, str) and name.strip() else None

    def due(self, symbol: str, now: float) -> bool:
        """Whether the name should be (re)fetched: never fetched, older than a week, or unknown for a day."""
        with self._lock:
            self._reload()
            entry = self._names.get(symbol)
        if entry is None:
            return True
        age = now - entry["fetched"]
        return age >= (REFRESH_S if entry.get("name") else UNKNOWN_RETRY_S)

    def put(self, symbol: str, name: str | None, now: float) -> None:
        """Record a lookup's answer (``None``: the API does not know the ticker) and save the file."""
        with self._lock:
            self._names[symbol] = {"name": name, "fetched": now}
            self._state.save({"names": self._names})
            path = self._state.path
            self._mtime = path.stat().st_mtime if path is not None and path.exists() else None


class LookupError_(Exception):
    """A reference lookup failed in a way worth retrying later (network, 5xx, 429, malformed body)."""


class ReferenceLookup:
    """Fetches missing or stale names into a :class:`NameCache`; runs on the sources' event loop.

    Args:
        cache: where names go.
        key: returns the Polygon/Massive API key (read each time; empty → no lookups).
        base_url: the REST host (``https://api.polygon.io`` or ``https://api.massive.com``).
        timeout_s: per request.
        clock: wall-clock seconds (tests inject theirs).
    """

    def __init__(self, cache: NameCache, key, base_url: str, timeout_s: float = 10.0, clock=time.time) -> None:
        self.cache = cache
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._clock = clock
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self.requests = 0

    def pending(self, symbols) -> list[str]:
        """The symbols whose name should be fetched now."""
        now = self._clock()
        return [s for s in symbols if self.cache.due(s, now) and self._retry_at.get(s, 0.0) <= now]

    async def refresh(self, symbols, http) -> list[str]:
        """Fetch every pending symbol's name with ``http`` (an ``httpx.AsyncClient``); return those that changed.

        Never raises for a lookup that fails: the symbol is retried after a doubling wait and the
        built-in table (or the ticker) serves meanwhile. Without a key nothing is fetched.
        """
        key = self._key()
        if not key:
            return []
        changed = []
        for symbol in self.pending(symbols):
            before = self.cache.name(symbol)
            try:
                name = await self._fetch(http, symbol, key)
            except LookupError_ as exc:
                n = self._failures.get(symbol, 0)
                self._failures[symbol] = n + 1
                wait = min(FAILED_RETRY_S[1], FAILED_RETRY_S[0] * 2 ** n)
                self._retry_at[symbol] = self._clock() + wait
                log.warning("ticker reference for %s failed (%s); retrying in %.0f s", symbol, exc, wait)
                continue
            self._failures.pop(symbol, None)
            self._retry_at.pop(symbol, None)
            self.cache.put(symbol, name, self._clock())
            if name != before:
                changed.append(symbol)
                log.info("ticker reference: %s is %s", symbol, name or "not known to the API")
        return changed

    async def _fetch(self, http, symbol: str, key: str) -> str | None:
        import httpx  # the live path's dependency, imported where it is used

        self.requests += 1
        url = f"{self.base_url}/v3/reference/tickers/{quote(symbol, safe='')}"
        try:
            resp = await http.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise LookupError_(f"{type(exc).__name__}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code in (401, 403):
            raise LookupError_(f"HTTP {resp.status_code}: the key was not accepted for reference data")
        if resp.status_code != 200:
            raise LookupError_(f"HTTP {resp.status_code}")
        try:
            results = resp.json().get("results")
            name = results.get("name") if isinstance(results, dict) else None
        except (ValueError, AttributeError):
            raise LookupError_("the body is not the documented JSON object") from None
        if not isinstance(name, str) or not name.strip():
            raise LookupError_("the answer has no company name")
        return " ".join(name.split())[:200]


_shared: dict[str, NameCache] = {}
_shared_lock = threading.Lock()


def shared_cache(home: Path | None = None) -> NameCache:
    """The process's cache for ``home`` (default ``$TICKERWIRE_HOME``), shared by the poller, matcher and dialog."""
    if home is None:
        from backend.settings import tickerwire_home

        home = tickerwire_home()
    path = Path(home) / CACHE_FILE
    key = os.fspath(path)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = NameCache(path)
        return _shared[key]
