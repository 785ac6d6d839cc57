"""A local HTTP server playing the Polygon REST aggregates endpoint and the Guardian ``/search`` API.

* ``GET /v2/aggs/ticker/{sym}/range/1/minute/{from}/{to}`` (``Authorization: Bearer KEY``) answers
  from a :class:`~fakes.market.FakeMarket`, ``page_size`` bars per page with a ``next_url``
  cursor while more remain; no ``results`` key when there are none (as the real API does).
* ``GET /search`` (``api-key`` query parameter) searches a corpus of Guardian results:
  ``q`` (the documented syntax — AND, OR, NOT, quoted phrases, parentheses — matched on whole
  words in the title, trail text and live blog entries, see :mod:`fakes.guardian_query`),
  ``section`` (``a|b``), ``from-date`` (date or date-time), ``order-by`` (``newest``/``oldest``),
  ``page-size`` (≤ 50, as documented), ``page``, ``show-fields`` and ``show-blocks``
  (``body:published-since:MS``: each result's body blocks published since then; a live blog
  has one per entry). :meth:`FakeApis.guardian_answer` is the same logic without a socket (for
  an ``httpx.MockTransport`` on a virtual clock).
* ``GET /v3/reference/tickers/{ticker}`` (``Authorization: Bearer KEY``) answers the company name
  from :attr:`FakeApis.tickers` (404 ``NOT_FOUND`` for a ticker it does not know).

Both take injectable faults, one per request in order: ``"429:SECONDS"`` (with Retry-After),
``"429"`` (without), ``"500"``, ``"503"``, ``"timeout:SECONDS"`` (sleep before answering),
``"truncated"`` (half a JSON body, consistent Content-Length), ``"cutoff"`` (Content-Length
larger than what is sent, then the connection closes), ``"malformed"`` (an HTML body with 200),
``"error_status"`` (``{"response":{"status":"error"}}``) and ``"empty"``. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakes.guardian_query import QueryError, matches
from fakes.market import FakeMarket

_AGGS_RE = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/1/minute/([^/]+)/([^/]+)$")
_TICKER_RE = re.compile(r"^/v3/reference/tickers/([^/]+)$")


def _time_ms(text: str, end: bool = False) -> int:
    if text.isdigit():
        return int(text)
    if len(text) == 10:
        dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        return int(dt.timestamp() * 1000) + (86_400_000 - 1 if end else 0)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


class FaultQueue:
    """Faults to apply to the next requests, in order (thread-safe)."""

    def __init__(self) -> None:
        self._q: deque[str] = deque()
        self._lock = threading.Lock()

    def add(self, *faults: str) -> None:
        with self._lock:
            self._q.extend(faults)

    def pop(self) -> str | None:
        with self._lock:
            return self._q.popleft() if self._q else None

    def __len__(self) -> int:
        return len(self._q)


class GuardianCorpus:
    """The articles the fake Guardian knows, as raw result dicts (thread-safe)."""

    def __init__(self) -> None:
        self._items: dict[str, dict] = {}
        self._lock = threading.Lock()

    def add(self, id: str, published: str, title: str, section: str, trail: str = "", type: str = "article",
            blocks: list[dict] | None = None) -> dict:
        """Add a result; a live blog's ``blocks`` are its entries (``title``, ``bodyTextSummary``, ``publishedDate``)."""
        item = {
            "id": id, "type": type, "sectionId": section, "sectionName": section.replace("-", " ").title(),
            "webPublicationDate": published, "webTitle": title, "webUrl": f"https://www.theguardian.com/{id}",
            "apiUrl": f"https://content.guardianapis.com/{id}",
            "fields": {"trailText": trail, "thumbnail": f"https://media.guim.co.uk/{abs(hash(id)) % 999}/500.jpg"},
            "isHosted": False, "pillarId": "pillar/news", "pillarName": "News",
        }
        if blocks is not None:
            item["_blocks"] = list(blocks)
        with self._lock:
            self._items[id] = item
        return item

    def add_entry(self, id: str, published: str, title: str, text: str = "") -> None:
        """A new live blog entry: the blog is republished (its publication date moves to the entry's)."""
        with self._lock:
            item = dict(self._items[id])
            entry = {"id": f"block-{len(item.get('_blocks', []))}", "title": title, "bodyTextSummary": text,
                     "publishedDate": published, "firstPublishedDate": published}
            item["_blocks"] = item.get("_blocks", []) + [entry]
            item["webPublicationDate"] = published
            self._items[id] = item

    def republish(self, id: str, published: str, title: str) -> None:
        """A live blog update: same id, newer publication date and title."""
        with self._lock:
            self._items[id] = dict(self._items[id], webPublicationDate=published, webTitle=title)

    def items(self) -> list[dict]:
        with self._lock:
            return [dict(i) for i in self._items.values()]

    def search(self, q: str, sections: list[str], from_ms: int | None) -> list[dict]:
        """Results matching ``q`` (raises QueryError), in ``sections`` (any if empty), published from ``from_ms``."""
        out = []
        for item in self.items():
            entries = " ".join(f"{b.get('title', '')} {b.get('bodyTextSummary', '')}" for b in item.get("_blocks", ()))
            text = f"{item['webTitle']} {item['fields'].get('trailText', '')} {entries}"
            if q.strip() and not matches(q, text):
                continue
            if sections and item["sectionId"] not in sections:
                continue
            if from_ms is not None and _time_ms(item["webPublicationDate"]) < from_ms:
                continue
            out.append(item)
        out.sort(key=lambda i: (i["webPublicationDate"], i["id"]), reverse=True)
        return out


class FakeApis:
    """One HTTP server for both APIs; read ``requests`` and the counters in tests."""

    def __init__(self, market: FakeMarket | None = None, polygon_keys=("good-key",), guardian_keys=("g-key",),
                 page_size: int = 40, guardian_reject_status: int = 401) -> None:
        self.market = market
        self.polygon_keys = set(polygon_keys)
        self.guardian_keys = set(guardian_keys)
        self.page_size = page_size
        self.guardian_reject_status = guardian_reject_status
        self.corpus = GuardianCorpus()
        self.rest_faults = FaultQueue()
        self.guardian_faults = FaultQueue()
        self.rest_requests: list[str] = []
        self.tickers: dict[str, str] = {}  # reference data: ticker → company name
        self.reference_faults = FaultQueue()
        self.reference_requests: list[str] = []
        self.guardian_requests: list[dict] = []  # query parameters (api-key replaced by whether it was valid)
        self._lock = threading.Lock()
        apis = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                try:
                    apis._dispatch(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeApis":
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # never started: used without a socket (guardian_answer)
            self._server.shutdown()
        self._server.server_close()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        m = _AGGS_RE.match(parts.path)
        if m:
            with self._lock:
                self.rest_requests.append(h.path)
            return self._aggs(h, m.group(1), m.group(2), m.group(3), query)
        if parts.path == "/search":
            return self._search(h, query)
        m = _TICKER_RE.match(parts.path)
        if m:
            return self._ticker(h, m.group(1))
        self._reply(h, 404, {"message": "not found"})

    @staticmethod
    def _reply(h, status: int, body, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _apply_fault(self, h, fault: str | None, good_body: bytes) -> bool:
        """Answer with the fault (True) or leave the request to the normal path (False)."""
        if fault is None:
            return False
        name, _, arg = fault.partition(":")
        if name == "429":
            self._reply(h, 429, {"message": "API rate limit exceeded"}, {"Retry-After": arg} if arg else None)
        elif name in ("500", "502", "503"):
            self._reply(h, int(name), b"<html><body>Server error</body></html>")
        elif name == "timeout":
            time.sleep(float(arg or 1))
            self._reply(h, 200, good_body)
        elif name == "truncated":
            self._reply(h, 200, good_body[: len(good_body) // 2])
        elif name == "cutoff":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(good_body)))
            h.end_headers()
            h.wfile.write(good_body[: len(good_body) // 3])
            h.wfile.flush()
            h.close_connection = True
        elif name == "malformed":
            self._reply(h, 200, b"<html><body>Bad gateway</body></html>")
        elif name == "error_status":
            self._reply(h, 200, {"response": {"status": "error", "message": "internal error"}})
        elif name == "empty":
            self._reply(h, 200, b"")
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return True

    # -- Polygon REST -----------------------------------------------------------------------------------

    def _aggs(self, h, symbol: str, from_text: str, to_text: str, query: dict) -> None:
        if h.headers.get("Authorization", "") not in {f"Bearer {k}" for k in self.polygon_keys}:
            return self._reply(h, 401, {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"})
        rows = self.market.aggs(symbol, _time_ms(from_text), _time_ms(to_text, end=True))
        offset = int(query.get("cursor", 0))
        page = rows[offset:offset + self.page_size]
        body = {"ticker": symbol, "queryCount": len(page), "resultsCount": len(page), "adjusted": True,
                "status": "OK", "request_id": f"req{offset}", "count": len(page)}
        if page:
            body["results"] = page
        if offset + self.page_size < len(rows):
            body["next_url"] = (f"{self.url}/v2/aggs/ticker/{symbol}/range/1/minute/{from_text}/{to_text}"
                                f"?cursor={offset + self.page_size}")
        data = json.dumps(body).encode()
        if not self._apply_fault(h, self.rest_faults.pop(), data):
            self._reply(h, 200, data)

    # -- Guardian -------------------------------------------------------------------------------------

    def _search(self, h, query: dict) -> None:
        status, body, headers = self.guardian_answer(query)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if status != 200 or not self._apply_fault(h, self.guardian_faults.pop(), data):
            self._reply(h, status, data, headers)

    def guardian_answer(self, query: dict) -> tuple[int, dict | bytes, dict]:
        """The /search answer to ``query`` (its parameters, ``api-key`` included): status, body, headers."""
        query = dict(query)
        key = query.pop("api-key", None)
        with self._lock:
            self.guardian_requests.append(dict(query, key_valid=key in self.guardian_keys, at=time.monotonic()))
        if key not in self.guardian_keys:
            message = "Invalid authentication credentials" if key else "No API key found in request"
            return self.guardian_reject_status, {"message": message}, {}
        try:
            size = int(query.get("page-size", 10))
            page = int(query.get("page", 1))
            from_ms = _time_ms(query["from-date"]) if "from-date" in query else None
            since = _blocks_since(query.get("show-blocks"))
        except ValueError as exc:
            return 400, {"response": {"status": "error", "message": str(exc)}}, {}
        if not 1 <= size <= 50:
            return 400, {"response": {"status": "error", "message": "page-size must be 1..50"}}, {}
        sections = [s for s in query.get("section", "").split("|") if s]
        try:
            hits = self.corpus.search(query.get("q", ""), sections, from_ms)
        except QueryError as exc:
            return 400, {"response": {"status": "error", "message": f"invalid query: {exc}"}}, {}
        if query.get("order-by", "relevance") == "oldest":
            hits.reverse()
        pages = math.ceil(len(hits) / size)
        if page > max(1, pages):
            return 400, {"response": {
                "status": "error", "message": "requested page is beyond the number of available pages"}}, {}
        results = [_shown(r, "show-fields" in query, since) for r in hits[(page - 1) * size: page * size]]
        body = {"response": {"status": "ok", "userTier": "developer", "total": len(hits),
                             "startIndex": (page - 1) * size + 1, "pageSize": size, "currentPage": page,
                             "pages": pages, "orderBy": query.get("order-by", "relevance"), "results": results}}
        return 200, body, {}

    # -- Polygon reference data -------------------------------------------------------------------------

    def _ticker(self, h, symbol: str) -> None:
        with self._lock:
            self.reference_requests.append(symbol)
        if h.headers.get("Authorization", "") not in {f"Bearer {k}" for k in self.polygon_keys}:
            return self._reply(h, 401, {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"})
        fault = self.reference_faults.pop()
        if fault is not None:
            return self._apply_fault(h, fault, b"{}")
        name = self.tickers.get(symbol)
        if name is None:
            return self._reply(h, 404, {"status": "NOT_FOUND", "request_id": "x", "message": "Ticker not found."})
        self._reply(h, 200, {"request_id": "x", "status": "OK", "results": {
            "ticker": symbol, "name": name, "market": "stocks", "locale": "us", "primary_exchange": "XNYS",
            "type": "CS", "active": True, "currency_name": "usd"}})


def _blocks_since(value: str | None) -> int | None:
    """``body:published-since:MS`` → MS; None when blocks were not asked for; ValueError for another form."""
    if not value:
        return None
    prefix = "body:published-since:"
    if not value.startswith(prefix):
        raise ValueError(f"show-blocks {value!r} is not supported by this server")
    return int(value[len(prefix):])


def _shown(item: dict, fields: bool, since: int | None) -> dict:
    """A stored result as the API shows it: fields only when asked, body blocks since ``since``."""
    out = {k: v for k, v in item.items() if not k.startswith("_") and (fields or k != "fields")}
    if since is not None:
        blocks = item.get("_blocks")
        if blocks is None:  # an article's body is one block, published with it
            blocks = [{"id": "body", "title": "", "bodyTextSummary": item["fields"].get("trailText", ""),
                       "publishedDate": item["webPublicationDate"]}]
        out["blocks"] = {"body": [b for b in blocks if _time_ms(b["publishedDate"]) >= since]}
    return out
