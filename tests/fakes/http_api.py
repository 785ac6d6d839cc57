"""A local HTTP server playing the Polygon REST aggregates endpoint and the Guardian ``/search`` API.

* ``GET /v2/aggs/ticker/{sym}/range/1/minute/{from}/{to}`` (``Authorization: Bearer KEY``) answers
  from a :class:`~fakes.market.FakeMarket`, ``page_size`` bars per page with a ``next_url``
  cursor while more remain; no ``results`` key when there are none (as the real API does).
* ``GET /search`` (``api-key`` query parameter) searches a corpus of Guardian results:
  ``q`` (terms joined by `` OR ``, matched in title and trail text), ``section`` (``a|b``),
  ``from-date`` (date or date-time), ``order-by`` (``newest``/``oldest``), ``page-size``
  (≤ 50 here, as the brief requires), ``page``, ``show-fields``.

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

from fakes.market import FakeMarket

_AGGS_RE = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/1/minute/([^/]+)/([^/]+)$")


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

    def add(self, id: str, published: str, title: str, section: str, trail: str = "", type: str = "article") -> dict:
        item = {
            "id": id, "type": type, "sectionId": section, "sectionName": section.replace("-", " ").title(),
            "webPublicationDate": published, "webTitle": title, "webUrl": f"https://www.theguardian.com/{id}",
            "apiUrl": f"https://content.guardianapis.com/{id}",
            "fields": {"trailText": trail, "thumbnail": f"https://media.guim.co.uk/{abs(hash(id)) % 999}/500.jpg"},
            "isHosted": False, "pillarId": "pillar/news", "pillarName": "News",
        }
        with self._lock:
            self._items[id] = item
        return item

    def republish(self, id: str, published: str, title: str) -> None:
        """A live blog update: same id, newer publication date and title."""
        with self._lock:
            self._items[id] = dict(self._items[id], webPublicationDate=published, webTitle=title)

    def items(self) -> list[dict]:
        with self._lock:
            return [dict(i) for i in self._items.values()]

    def search(self, q: str, sections: list[str], from_ms: int | None) -> list[dict]:
        terms = [t.strip().lower() for t in q.split(" OR ") if t.strip()]
        out = []
        for item in self.items():
            text = (item["webTitle"] + " " + item["fields"].get("trailText", "")).lower()
            if terms and not any(t in text for t in terms):
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
        key = query.pop("api-key", None)
        with self._lock:
            self.guardian_requests.append(dict(query, key_valid=key in self.guardian_keys, at=time.monotonic()))
        if key not in self.guardian_keys:
            message = "Invalid authentication credentials" if key else "No API key found in request"
            return self._reply(h, self.guardian_reject_status, {"message": message})
        try:
            size = int(query.get("page-size", 10))
            page = int(query.get("page", 1))
            from_ms = _time_ms(query["from-date"]) if "from-date" in query else None
        except ValueError as exc:
            return self._reply(h, 400, {"response": {"status": "error", "message": str(exc)}})
        if not 1 <= size <= 50:
            return self._reply(h, 400, {"response": {"status": "error", "message": "page-size must be 1..50"}})
        sections = [s for s in query.get("section", "").split("|") if s]
        hits = self.corpus.search(query.get("q", ""), sections, from_ms)
        if query.get("order-by", "relevance") == "oldest":
            hits.reverse()
        pages = math.ceil(len(hits) / size)
        if page > max(1, pages):
            return self._reply(h, 400, {"response": {
                "status": "error", "message": "requested page is beyond the number of available pages"}})
        results = hits[(page - 1) * size: page * size]
        if "show-fields" not in query:
            results = [{k: v for k, v in r.items() if k != "fields"} for r in results]
        body = {"response": {"status": "ok", "userTier": "developer", "total": len(hits),
                             "startIndex": (page - 1) * size + 1, "pageSize": size, "currentPage": page,
                             "pages": pages, "orderBy": query.get("order-by", "relevance"), "results": results}}
        data = json.dumps(body).encode()
        if not self._apply_fault(h, self.guardian_faults.pop(), data):
            self._reply(h, 200, data)
