"""The Guardian Open Platform ``/search`` response: parse into :class:`~backend.model.Article`.

A page looks like ``{"response": {"status": "ok", "currentPage": 1, "pages": 3,
"results": [...]}}``; each result has ``id, type, sectionId, sectionName,
webPublicationDate, webTitle, webUrl`` and, with ``show-fields``, ``fields.trailText``
and ``fields.thumbnail``. Parsing never raises: a bad page or item is rejected with a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser

from backend.model import Article

#: Tags whose start or end separates words (a paragraph, a line break, a list item…).
_BREAKING_TAGS = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                            "tr", "td", "th", "figure", "figcaption", "hr"})
_HIDDEN_TAGS = frozenset({"script", "style", "template"})


@dataclass(slots=True)
class SearchPage:
    """One parsed ``/search`` page."""

    articles: list[Article] = field(default_factory=list)
    current_page: int = 1
    pages: int = 1
    total: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str = ""  # set when the whole page is unusable


def parse_time_ms(text: str) -> int:
    """``2025-02-03T14:33:12Z`` → Unix ms (UTC). Raises ``ValueError`` on anything else."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone")
    return int(dt.astimezone(timezone.utc).timestamp() * 1000)


def format_time_ms(ms: int) -> str:
    """Unix ms → ``2025-02-03T14:33:12Z``."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _TextCollector(HTMLParser):
    """Collects an HTML fragment's text nodes; entities become the characters they stand for."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag, attrs) -> None:
        if tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_data(self, data) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(fragment: str) -> str:
    """The text of the HTML the API puts in ``trailText`` (and, rarely, ``webTitle``).

    The result is plain text, to be shown as such: tags are dropped (attribute values and
    all), entities become characters — so ``&lt;img&gt;`` is the literal text ``<img>``, not
    markup — and runs of whitespace (including non-breaking spaces) become one space.
    """
    parser = _TextCollector()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def parse_search_page(
    payload: str | bytes,
    symbols: frozenset[str] = frozenset(),
    query: str = "",
    seen_ms: int = 0,
) -> SearchPage:
    """Parse a page; every article is tagged with the ``symbols`` and ``query`` that found it."""
    page = SearchPage()
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        page.error = f"body is not JSON: {exc}"
        return page
    except RecursionError:  # absurdly deep nesting: json gives up by recursion, not ValueError
        page.error = "body is not usable JSON: nested too deeply"
        return page
    response = data.get("response") if isinstance(data, dict) else None
    if not isinstance(response, dict):
        page.error = "body has no 'response' object"
        return page
    if response.get("status") != "ok":
        page.error = f"status {response.get('status')!r}: {response.get('message', '')}"
        return page
    results = response.get("results")
    if not isinstance(results, list):
        page.error = "response has no 'results' list"
        return page
    try:
        page.current_page = int(response.get("currentPage", 1))
        page.pages = int(response.get("pages", 1))
        page.total = int(response.get("total", len(results)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf) from a 1e999 literal
        page.error = "paging fields are not numbers"
        return page
    for item in results:
        article, reason = article_from_result(item, symbols, query, seen_ms)
        if article is not None:
            page.articles.append(article)
        else:
            page.rejected.append(reason)
    return page


def article_from_result(
    item: object, symbols: frozenset[str], query: str, seen_ms: int = 0
) -> tuple[Article | None, str]:
    """Build an Article from one search result, or return ``(None, reason)``."""
    if not isinstance(item, dict):
        return None, f"result is a {type(item).__name__}, expected an object"
    for key in ("id", "webPublicationDate", "webTitle", "webUrl"):
        if not isinstance(item.get(key), str) or not item[key]:
            return None, f"result lacks {key}"
    try:
        published = parse_time_ms(item["webPublicationDate"])
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 or 9999 shifted out of range
        return None, f"{item['id']}: bad webPublicationDate ({exc})"
    fields = item.get("fields") if isinstance(item.get("fields"), dict) else {}
    return (
        Article(
            id=item["id"],
            published_ms=published,
            title=plain_text(item["webTitle"]),
            url=item["webUrl"],
            section=str(item.get("sectionId", "")),
            summary=plain_text(str(fields.get("trailText", ""))),
            thumbnail=str(fields.get("thumbnail", "")),
            symbols=symbols,
            queries=frozenset({query}) if query else frozenset(),
            updated_ms=seen_ms,
        ),
        "",
    )


def encode_search_page(results: list[dict], current_page: int = 1, pages: int = 1) -> str:
    """Build a ``/search`` response body (for the demo feed and local test servers)."""
    return json.dumps(
        {
            "response": {
                "status": "ok", "userTier": "developer", "total": len(results), "startIndex": 1,
                "pageSize": max(1, len(results)), "currentPage": current_page, "pages": pages,
                "orderBy": "newest", "results": results,
            }
        }
    )


def article_to_result(article: Article) -> dict:
    """Encode an Article as a search result item."""
    return {
        "id": article.id, "type": "article", "sectionId": article.section,
        "sectionName": article.section.replace("-", " ").title(),
        "webPublicationDate": format_time_ms(article.published_ms), "webTitle": article.title,
        "webUrl": article.url, "apiUrl": article.url,
        "fields": {"trailText": article.summary, "thumbnail": article.thumbnail},
        "isHosted": False, "pillarId": "pillar/news", "pillarName": "News",
    }
