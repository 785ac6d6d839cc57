"""Shared test fakes and builders (one place, real interfaces)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keyring.backend
import pytest

from backend.model import ROLLUPS, Bar, Candle, Timeframe
from backend.processing.aggregator import candle_from_values
from backend.processing.late import candle_values
from backend.sources.polygon import initial_from_ms
from backend.stores.sqlite import SqliteStore
from backend.timeutil import ny_day_start
from backend.wire.polygon import parse_frame

SHARED = Path(__file__).resolve().parent / "data" / "samples"  # copies of the shared wire-format samples
REPO = Path(__file__).resolve().parents[1]
SAMPLE_SESSION = REPO / "resources" / "sessions" / "2025-02-03"
T0 = 1738593060000  # 2025-02-03 14:31 UTC (09:31 New York)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in memory (tests must not touch the OS keyring)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


def bar(symbol="AAPL", start=T0, o=10.0, h=11.0, l=9.0, c=10.5, v=100.0, vw=None, ev="AM", z=10.0) -> Bar:
    """A Bar with sensible defaults; ``ev="A"`` makes a one-second bar."""
    length = 60_000 if ev == "AM" else 1_000
    return Bar(ev, symbol, start, start + length, o, h, l, c, v, vw if vw is not None else (o + c) / 2,
               0.0, 0.0, 0.0, z, False)


def sample_bars() -> list[Bar]:
    """The bars of the recorded sample session, in arrival order."""
    out: list[Bar] = []
    for line in (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines():
        out.extend(parse_frame(line).bars)
    return out


def sample_guardian_page() -> str:
    return json.dumps(json.loads((SHARED / "guardian_search_page.json").read_text()))


def embedded_pipeline(path, watchlist, sources, **options):
    """A real embedded pipeline (core + embedded processor) on the store at ``path`` (not started)."""
    from backend.pipeline.core import PipelineCore
    from backend.pipeline.embedded import EmbeddedProcessor

    return PipelineCore(EmbeddedProcessor(path, **options), watchlist, sources)


def bucket_start(tf: Timeframe, t: int) -> int:
    return ny_day_start(t) if tf is Timeframe.D1 else t - t % tf.ms


def assert_rollups_fold(path, symbols) -> int:
    """Every stored roll-up equals the fold of the stored minutes of its bucket; return how many were checked."""
    store = SqliteStore(path)
    checked = 0
    try:
        for symbol in symbols:
            minutes = store.candles(symbol, Timeframe.M1)
            for tf in ROLLUPS:
                buckets: dict[int, list[Candle]] = {}
                for m in minutes:
                    buckets.setdefault(bucket_start(tf, m.start_ms), []).append(m)
                stored = {c.start_ms: c for c in store.candles(symbol, tf)}
                assert stored.keys() == buckets.keys(), (symbol, tf)
                for start, parts in buckets.items():
                    fold = candle_from_values(symbol, tf, start, [candle_values(p) for p in parts])
                    got = stored[start]
                    assert (got.open, got.high, got.low, got.close, got.trades) == \
                           (fold.open, fold.high, fold.low, fold.close, fold.trades), (symbol, tf, start)
                    assert got.volume == pytest.approx(fold.volume, rel=1e-12), (symbol, tf, start)
                    assert got.vwap == pytest.approx(fold.vwap, rel=1e-9), (symbol, tf, start)
                    checked += 1
    finally:
        store.close()
    return checked


def seed_covered_before(home: Path, symbols, market_start_ms: int) -> None:
    """Let a collector in ``home`` fetch every minute of a market begun at ``market_start_ms``, at any time of day.

    A home that never ran backfills from New York midnight (``initial_from_ms``, by design), which may be only
    minutes ago: a test expecting the whole market then failed from midnight until the market's age had passed.
    Only then is the home made a collector's that last ran just before the market began; otherwise it stays new,
    so the first-run path is the one tested.
    """
    if market_start_ms >= initial_from_ms(int(time.time() * 1000)):
        return
    home.mkdir(parents=True, exist_ok=True)
    covered = market_start_ms - market_start_ms % 60_000 - 60_000
    (home / "polygon_state.json").write_text(json.dumps({"covered": dict.fromkeys(symbols, covered), "gaps": {}}))
