"""``tickerwire collect``: the live pipeline without a window, for running on a server.

Same sources (Polygon/Massive prices, Guardian news), same pipeline (assembled by
:func:`backend.pipeline.runtime.build`, archive and retention included) and store as the
desktop app. SIGINT or SIGTERM (or ``--exit-after``) stop it cleanly: the sources stop and
hand everything they hold to the pipeline, the pipeline stores it, the store is flushed and
closed, and the process exits 0. If the pipeline itself dies it stops with the reason and
exits 1; if a source cannot run because a package is missing, it stops saying which and how
to install it, and exits 3. Every source logs one line per state change.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from backend import secrets
from backend.model import Timeframe, WatchItem, validate_ticker
from backend.pipeline.runtime import FeedChoice, StackConnection
from backend.settings import Settings, tickerwire_home
from backend.watchlist import default_watch_item

log = logging.getLogger("tickerwire.collect")

STOP_TIMEOUT_S = 20.0
EXIT_PIPELINE_DIED = 1
EXIT_SOURCE_CANNOT_RUN = 3  # a package it needs is missing (the log names it and the fix)


class CollectError(Exception):
    """The collector cannot start; the message says why and what to do."""


def parse_watch(text: str | None, settings: Settings) -> list[WatchItem]:
    """``AAPL,AMZN`` → watch items (the settings' query and sections where the symbol is known)."""
    if not text:
        return settings.watchlist
    known = {item.symbol: item for item in settings.watchlist}
    items: list[WatchItem] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            symbol = validate_ticker(part)
        except ValueError as exc:
            raise CollectError(f"--watch: {exc}") from None
        if symbol not in (i.symbol for i in items):
            items.append(known.get(symbol) or default_watch_item(symbol))
    if not items:
        raise CollectError("--watch names no symbol (e.g. --watch AAPL,AMZN)")
    return items


def collect(watch: str | None = None, exit_after: float | None = None, home: Path | None = None, *,
            feed: FeedChoice | None = None, stack: StackConnection | None = None) -> int:
    """Run the collector until a signal or ``exit_after`` seconds; return the exit code.

    ``feed`` is live data by default (a recorded session or the demo for trials); ``stack`` runs it on a
    running stack (sources to Kafka, the stack's jobs and sinks behind), else on the embedded pipeline.
    """
    from backend.pipeline.runtime import build, store_path
    from backend.sources.market_client import missing_packages

    home = home or tickerwire_home()
    settings = Settings(home / "settings.json")
    watchlist = parse_watch(watch, settings)
    feed = feed or FeedChoice("live")
    if feed.kind == "live" and not secrets.get_key(secrets.POLYGON) and not secrets.get_key(secrets.GUARDIAN):
        raise CollectError("no API keys: set MASSIVE_API_KEY (or POLYGON_API_KEY) and GUARDIAN_API_KEY, "
                           "or save them in the desktop app's settings")
    mode = "stack" if stack is not None else "embedded"
    where = str(stack and stack.kafka_bootstrap) if stack is not None else str(store_path(feed, home))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    pipeline = build(mode, settings, feed, home=home, watchlist=watchlist, stack=stack)
    deadline = None if exit_after is None else time.monotonic() + exit_after
    try:
        pipeline.start()
        log.info("collecting %s into %s (%s pipeline)", ", ".join(i.symbol for i in watchlist), where, mode)
        broken: list[str] = []
        while not stop.is_set() and not pipeline.failed.is_set() and not broken:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            stop.wait(min(1.0, left) if left is not None else 1.0)
            broken = missing_packages(pipeline.statuses())
        if pipeline.failed.is_set():
            log.error("stopping: %s", pipeline.failure)
        elif broken:
            log.error("stopping: a source cannot run — %s", "; ".join(broken))
        else:
            log.info("stopping: %s", "signal received" if stop.is_set() else f"--exit-after {exit_after:g} s")
    finally:
        pipeline.stop(STOP_TIMEOUT_S)  # sources hand over what they hold; it is stored before the store closes
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if mode == "embedded":
        log.info("stopped; the store holds %s", _summary(store_path(feed, home), watchlist))
    else:
        log.info("stopped; everything received was delivered to Kafka at %s", where)
    if pipeline.failed.is_set():
        return EXIT_PIPELINE_DIED
    return EXIT_SOURCE_CANNOT_RUN if broken else 0


def _summary(path: Path, watchlist: list[WatchItem]) -> str:
    from backend.stores.sqlite import SqliteStore

    store = SqliteStore(path)
    try:
        candles = sum(len(store.candles(i.symbol, Timeframe.M1)) for i in watchlist)
        articles = len(store.articles())
    finally:
        store.close()
    return f"{candles} one-minute candles for the watchlist and {articles} articles"
