"""Routes a Guardian page found by one watch query to the symbols its articles are about.

Both pipelines use it: the embedded one before storing, the stack one before producing
to Kafka (the Flink job passes articles through unchanged).
"""

from __future__ import annotations

import time
from dataclasses import replace

from backend.model import Article, WatchItem
from backend.signals.relevance import route_article
from backend.wire.guardian import parse_search_page


def routes_for(items: list[WatchItem]) -> dict[str, list[WatchItem]]:
    """Watch query → the watch items that use it."""
    routes: dict[str, list[WatchItem]] = {}
    for item in items:
        routes.setdefault(item.query, []).append(item)
    return routes


def route_news_page(payload: str | bytes, query: str, items: list[WatchItem],
                    rejected: list[str]) -> list[Article]:
    """Parse a page for ``query``; keep articles about an item's company in its sections, tagged with its symbols.

    Reasons for anything unusable are appended to ``rejected``; nothing raises.
    """
    if not items:
        return []  # a query no longer watched
    page = parse_search_page(payload, query=query, seen_ms=int(time.time() * 1000))
    if page.error:
        rejected.append(f"news page for {query!r}: {page.error}")
        return []
    rejected.extend(page.rejected)
    out = []
    for article in page.articles:
        symbols = frozenset(i.symbol for i in items if route_article(article, i))
        if symbols:
            out.append(replace(article, symbols=symbols))
    return out
