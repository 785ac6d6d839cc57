"""Routes parsed articles to the watchlist symbols they are about, at the source (the edge).

News sources (the Guardian poller, the demo, a replay) parse a ``/search`` page once with
:mod:`backend.wire.guardian` and publish only the articles that the relevance matcher
(:func:`backend.signals.relevance.route_article`) ties to a watched company, each tagged with
those symbols. Both pipelines receive routed articles and never parse a page again.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable

from backend.bus.base import NewsBatch
from backend.model import Article, WatchItem
from backend.signals.relevance import route_article
from backend.wire.guardian import parse_search_page


def route_symbols(article: Article, items: Iterable[WatchItem]) -> frozenset[str]:
    """The symbols of the items whose company ``article`` is about (in their sections, if they have any)."""
    return frozenset(i.symbol for i in items if route_article(article, i))


def route_articles(articles: Iterable[Article], items: Iterable[WatchItem]) -> list[Article]:
    """The articles about at least one item's company, each tagged with those items' symbols."""
    items = list(items)
    out = []
    for article in articles:
        symbols = route_symbols(article, items)
        if symbols:
            out.append(replace(article, symbols=symbols))
    return out


def news_batch_from_page(payload: str | bytes, query: str, items: Iterable[WatchItem]) -> NewsBatch:
    """Parse a page found by ``query`` and route it to ``items`` (the watch items that use that query).

    Never raises: a page or item that cannot be used becomes a reason in ``rejected``.
    """
    received = time.perf_counter_ns()
    page = parse_search_page(payload, query=query, seen_ms=int(time.time() * 1000))
    if page.error:
        return NewsBatch([], [f"news page for {query!r}: {page.error}"], received)
    return NewsBatch(route_articles(page.articles, items), list(page.rejected), received)
