"""One Guardian sweep for the whole watchlist: the boolean queries, and what a live blog's new entries say.

A sweep asks ``/search`` once for every watch item at the same time: the items' queries joined
with ``OR`` (each in parentheses when it has operators of its own), ``order-by=newest``, no
section filter unless every item of that query has sections (then their union; the relevance
matcher filters each item's own sections locally), split into as few queries as
:data:`MAX_Q_CHARS` allows. Items already polled share a floor (their oldest watermark minus
the overlap); items without a watermark (new in the watchlist, or a changed query) are
caught up with a lookback in a query of their own, then join the shared one.

Live blogs are republished (the same id, a newer ``webPublicationDate``). The sweep asks for
``show-blocks=body:published-since:<floor>``, so a blog in the results carries only its entries
since the floor: what is new is read from that same call (no second request per blog), shown
as the article's summary and used to route the blog to the symbols its new entries are about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.model import Article, WatchItem
from backend.wire.guardian import parse_time_ms, plain_text

#: Longest ``q`` one request carries (the whole URL stays well under the common 8 KB limits once encoded).
MAX_Q_CHARS = 1_500
_OPERATOR = re.compile(r"\s|\b(?:AND|OR|NOT)\b|[()\"]")


@dataclass(frozen=True, slots=True)
class SweepQuery:
    """One ``/search`` request of a sweep: its ``q``, optional section filter, the items it serves, its floor."""

    q: str
    sections: tuple[str, ...]
    items: tuple[WatchItem, ...]
    floor_ms: int
    catch_up: bool = False  # items without a watermark: a lookback instead of the shared floor

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(i.symbol for i in self.items)


def watermark_key(item: WatchItem) -> str:
    """The persisted watermark's key: a changed query or sections starts a new watermark (a catch-up)."""
    return f"{item.symbol}|{item.query}|{','.join(item.sections)}"


def _term(query: str) -> str:
    """A query as one operand of OR: in parentheses unless it is one word or one quoted phrase."""
    bare = re.sub(r'"[^"]*"', "x", query.strip())
    return f"({query})" if _OPERATOR.search(bare) else query


def join_queries(queries: list[str]) -> str:
    """``["Apple", "Meta OR Facebook"]`` → ``Apple OR (Meta OR Facebook)`` (duplicates once)."""
    unique = list(dict.fromkeys(queries))
    if len(unique) == 1:
        return unique[0]
    return " OR ".join(_term(q) for q in unique)


def chunk_items(items: list[WatchItem], max_chars: int = MAX_Q_CHARS) -> list[list[WatchItem]]:
    """Split items into as few groups as fit ``max_chars`` of joined query each (order kept)."""
    groups: list[list[WatchItem]] = []
    current: list[WatchItem] = []
    for item in items:
        if current and len(join_queries([i.query for i in current + [item]])) > max_chars:
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    return groups


def _sections(items: list[WatchItem]) -> tuple[str, ...]:
    if any(not i.sections for i in items):
        return ()
    return tuple(sorted({s for i in items for s in i.sections}))


def plan_sweep(items: list[WatchItem], watermarks: dict[str, int], now_ms: int, overlap_ms: int,
               lookback_ms: int, max_chars: int = MAX_Q_CHARS) -> list[SweepQuery]:
    """The requests of one sweep over ``items`` (the effective watch items), fewest first.

    Args:
        items: what to cover (default items already carry their derived query and no sections).
        watermarks: newest publication time seen per :func:`watermark_key`.
        now_ms: the current time.
        overlap_ms: how far before a watermark to look again (late indexing, republished blogs).
        lookback_ms: how far back a new item is caught up.
    """
    known = [i for i in items if watermark_key(i) in watermarks]
    new = [i for i in items if watermark_key(i) not in watermarks]
    plan = []
    if known:
        floor = min(watermarks[watermark_key(i)] for i in known) - overlap_ms
        plan += [SweepQuery(join_queries([i.query for i in g]), _sections(g), tuple(g), floor)
                 for g in chunk_items(known, max_chars)]
    if new:
        floor = now_ms - lookback_ms
        plan += [SweepQuery(join_queries([i.query for i in g]), _sections(g), tuple(g), floor, catch_up=True)
                 for g in chunk_items(new, max_chars)]
    return plan


# -- live blogs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlogUpdate:
    """A live blog's entries since the floor, as one sentence for the ticker and text for routing."""

    latest: str  # the newest entry's title or the start of its text
    text: str  # every new entry's title and summary, for the relevance matcher
    newest_ms: int  # when the newest entry was published (0 if not given)
    entries: int


def blog_update(item: dict) -> BlogUpdate | None:
    """What a live blog result's ``blocks.body`` (from ``show-blocks=body:published-since``) says; None if nothing."""
    if not isinstance(item, dict) or item.get("type") != "liveblog":
        return None
    blocks = item.get("blocks")
    body = blocks.get("body") if isinstance(blocks, dict) else None
    if not isinstance(body, list):
        return None
    entries = []
    for block in body:
        if not isinstance(block, dict):
            continue
        title = plain_text(str(block.get("title") or ""))
        summary = plain_text(str(block.get("bodyTextSummary") or ""))
        if not (title or summary):
            continue
        try:
            published = parse_time_ms(str(block.get("publishedDate") or block.get("firstPublishedDate") or ""))
        except (ValueError, OverflowError):
            published = 0
        entries.append((published, title, summary))
    if not entries:
        return None
    entries.sort(key=lambda e: e[0], reverse=True)
    _, title, summary = entries[0]
    latest = title or _sentence(summary)
    text = "\n".join(f"{t} {_sentence(s)}".strip() for _, t, s in entries[:20])
    return BlogUpdate(latest, text, entries[0][0], len(entries))


def _sentence(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def with_blog_update(article: Article, update: BlogUpdate) -> tuple[Article, Article]:
    """(the article to publish: its summary says what is new; the article to route: its new entries' text)."""
    from dataclasses import replace

    shown = replace(article, summary=f"Latest: {update.latest}")
    routed = replace(article, summary=f"{article.summary}\n{update.text}")
    return shown, routed
