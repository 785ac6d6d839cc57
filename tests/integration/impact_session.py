"""A market session for the news-impact tests: recorded and generated bars over six sessions, articles, and the
embedded pipeline's impacts for them (the oracle), with a comparison that names every difference.
"""

from __future__ import annotations

import json
import math
import random
import string
import uuid
from datetime import date

from helpers import SAMPLE_SESSION
from market_session import bars_of, generated_frames, recorded_bars

from backend.model import Article, impact_to_dict
from backend.processing.aggregator import aggregate
from backend.signals.impact import ImpactTracker
from backend.signals.impact_store import StoreCandleHistory
from backend.stores.sqlite import SqliteStore
from backend.timeutil import session_bounds
from backend.wire.guardian import parse_search_page

MINUTE = 60_000
#: Sessions before the recorded one (Mon 3 Feb 2025): the volume baseline needs at least three.
EARLIER_DAYS = [date(2025, 1, d) for d in (27, 28, 29, 30, 31)]
RECORDED_DAY = date(2025, 2, 3)


def fresh_names() -> dict[str, str]:
    """Fresh tickers per run: the session's jobs keep state for the sample's own tickers from other tests."""
    rng = random.Random()
    names = {s: "I" + "".join(rng.choice(string.ascii_uppercase) for _ in range(3)) for s in ("AAPL", "AMZN")}
    names["BRK.B"] = names["AAPL"][:3] + ".B"
    return names


def market(names: dict[str, str]):
    """The recorded session (renamed) after five generated mornings and followed by a generated hour, and articles.

    Articles: the recorded Guardian article, plus ones published in the session, before
    the open, at the weekend, before any candle, near the close and on two symbols.
    """
    bars = []  # in event-time order, as a live feed sends them (the candle job evicts days behind its watermark)
    symbols = sorted(names.values())
    for i, day in enumerate(EARLIER_DAYS):
        open_ms, _ = session_bounds(day)
        bars += bars_of(generated_frames(symbols, minutes=80, seed=i, start_ms=open_ms - 10 * MINUTE))
        bars += bars_of(generated_frames(symbols, minutes=20, seed=50 + i, start_ms=open_ms + 370 * MINUTE))
    open_ms, _ = session_bounds(RECORDED_DAY)
    bars += [b._replace(symbol=names[b.symbol]) for b in recorded_bars()]
    bars += bars_of(generated_frames(symbols, minutes=80, seed=99, start_ms=open_ms + 7 * MINUTE))
    page = (SAMPLE_SESSION / "guardian.jsonl").read_text().splitlines()[0]
    recorded = parse_search_page(json.dumps(json.loads(page)["page"]), frozenset({names["AMZN"]}), "Amazon").articles
    assert recorded
    amzn, aapl, brk = names["AMZN"], names["AAPL"], names["BRK.B"]
    thursday_open, _ = session_bounds(EARLIER_DAYS[3])
    friday_open, friday_close = session_bounds(EARLIER_DAYS[4])
    monday_open, _ = session_bounds(EARLIER_DAYS[0])
    made = [
        ("in-session", thursday_open + 31 * MINUTE + 5_000, {aapl}),
        ("two-symbols", open_ms + 15 * MINUTE, {aapl, brk}),
        ("pre-market", open_ms - 100 * MINUTE, {amzn}),
        ("weekend", friday_close + 30 * 3_600_000, {aapl}),
        ("before-any-candle", monday_open - 60 * MINUTE, {brk}),
        ("near-close", friday_close - 8 * MINUTE, {amzn}),
        ("still-pending", open_ms + 70 * MINUTE, {amzn}),
    ]
    articles = recorded + [Article(f"test/{uuid.uuid4().hex[:8]}/{label}", published, f"Headline {label}",
                                   f"https://www.theguardian.com/{label}", "business", symbols=frozenset(symbols_))
                           for label, published, symbols_ in made]
    return bars, articles


def embedded_impacts(bars, articles, tmp_path) -> dict:
    """The embedded pipeline's figures: the oracle's candles in the SQLite store, the tracker over them."""
    candles = list(aggregate(bars).values())
    store = SqliteStore(tmp_path / "oracle.db")
    try:
        store.upsert_candles(candles)
        store.flush()
        return {i.key: i for i in ImpactTracker(StoreCandleHistory(store)).apply(candles, articles)}
    finally:
        store.close()


def differences(expected: dict, found: dict) -> list[str]:
    out = [f"missing {k}" for k in sorted(expected.keys() - found.keys())]
    out += [f"unexpected {k}" for k in sorted(found.keys() - expected.keys())]
    for key in sorted(expected.keys() & found.keys()):
        if not _close(impact_to_dict(expected[key]), impact_to_dict(found[key])):
            out.append(f"{key}: expected {expected[key]}\n    found {found[key]}")
    return out


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b
