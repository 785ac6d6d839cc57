"""The compiled aggregator core (``_aggcore``) against its specification, the Python aggregator.

Random streams of minute and second bars — corrections, out-of-order and far-behind bars, days
freed behind the watermark, a daylight-saving change, int and float values, a zero average trade
size, forced re-applies — go through both, add by add, and every result (candles in order, late
and rejected bars, second bars, settled minutes) and the state left behind must be equal, value
for value. Then both restart on a store holding what the first half produced.
"""

from __future__ import annotations

import random

import pytest
from helpers import T0, bar

from backend.bus.base import PriceBatch
from backend.model import MINUTE_MS
from backend.pipeline import embedded
from backend.pipeline.embedded import EmbeddedProcessor
from backend.processing import aggregator as spec
from backend.processing.aggregator import CandleAggregator
from backend.processing.late import StoreDayHistory
from backend.stores.sqlite import SqliteStore

# 2025-03-09 is a 23-hour New York day (clocks go forward at 02:00).
DST_DAY_START = 1741496400000  # 2025-03-09 00:00 New York
SYMBOLS = ("AAPL", "BRK.B", "MSFT")


def test_the_install_built_the_compiled_core():
    assert spec._aggcore is not None, "backend/processing/_aggcore.c was not compiled (no C compiler at install?)"
    assert CandleAggregator().native and not CandleAggregator(native=False).native


def _random_bars(rng: random.Random, base: int, count: int) -> list:
    bars = []
    for _ in range(count):
        minute = base + rng.randrange(3 * 24 * 60) * MINUTE_MS  # three New York days
        if rng.random() < 0.15 and bars:
            minute = bars[-1].start_ms - bars[-1].start_ms % MINUTE_MS  # a correction or another second
        price = rng.choice([100, 100.5, 101.25]) if rng.random() < 0.2 else 100 + rng.random() * 3
        as_float = rng.random() < 0.8
        volume = float(rng.randrange(1, 5000)) if as_float else rng.randrange(1, 5000)
        z = rng.choice([0.0, 0.0, 7.0, 100.0, 2500.0]) if as_float else rng.choice([0, 3, 100])
        ev = "A" if rng.random() < 0.35 else "AM"
        start = minute + (rng.randrange(60) * 1000 if ev == "A" else 0)
        bars.append(bar(symbol=rng.choice(SYMBOLS), start=start, o=price, h=price + rng.random(),
                        l=price - rng.random(), c=price + 0.1, v=volume, ev=ev, z=z,
                        vw=price if as_float else None))
    # Mostly forward in time, as a feed is, with some jitter; and a few re-sent long after (late or rejected).
    bars.sort(key=lambda b: b.start_ms + rng.randrange(-30, 30) * MINUTE_MS)
    for i in range(len(bars)):
        if i > 200 and rng.random() < 0.05:
            bars[i] = bars[i - rng.randrange(100, 200)]._replace(close=rng.random() * 200)
    return bars


def _state(agg: CandleAggregator) -> dict:
    return {sym: (st.minutes, st.am, st.seconds, st.m5, st.m15, st.h1, st.max_end, st.evicted_before,
                  st.days, st.day_lo, st.day_hi)
            for sym, st in agg._symbols.items()}


def _assert_same(native, python, bars, force=False):
    got, want = native.add(bars, force=force), python.add(bars, force=force)
    assert got.candles == want.candles
    assert [tuple(c) for c in got.candles] == [tuple(c) for c in want.candles]
    assert (got.late, got.rejected, got.seconds, got.settled) == (want.late, want.rejected, want.seconds,
                                                                   want.settled)
    assert _state(native) == _state(python)
    return want


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("base", [T0 - T0 % MINUTE_MS, DST_DAY_START - 12 * 3_600_000])
def test_the_compiled_core_equals_the_specification(seed, base):
    rng = random.Random(seed)
    lateness = rng.choice([None, 0, 15 * MINUTE_MS, 6 * 3_600_000])
    kwargs = {"allowed_lateness_ms": lateness, "seconds_horizon_ms": rng.choice([MINUTE_MS, 60 * MINUTE_MS])}
    native, python = CandleAggregator(**kwargs), CandleAggregator(**kwargs, native=False)
    assert native.native and not python.native
    bars = _random_bars(rng, base, 600)
    i = 0
    while i < len(bars):
        n = rng.randrange(1, 120)
        _assert_same(native, python, bars[i:i + n], force=rng.random() < 0.1)
        i += n


@pytest.mark.parametrize("seed", range(8))
def test_after_a_restart_both_fold_the_stored_days_alike(tmp_path, seed):
    rng = random.Random(100 + seed)
    bars = _random_bars(rng, T0 - T0 % MINUTE_MS, 800)
    store = SqliteStore(tmp_path / "store.sqlite")
    first = CandleAggregator(history=StoreDayHistory(store), native=False)
    for i in range(0, 400, 50):  # what the embedded processor stores of the first half
        result = first.add(bars[i:i + 50])
        if result.settled:
            store.delete_seconds(result.settled)
        store.upsert_seconds([(sym, start, *values) for sym, start, values in result.seconds])
        store.upsert_candles(result.candles)
    history = StoreDayHistory(store)
    native = CandleAggregator(history=history)
    python = CandleAggregator(history=history, native=False)
    for i in range(400, 800, 40):
        _assert_same(native, python, bars[i:i + 40])
    store.close()


@pytest.mark.parametrize("bad, error", [(bar(v=float("nan"), z=1.0), ValueError), (bar()._replace(start_ms="soon"), TypeError)])
def test_a_value_no_bar_can_have_raises_alike(bad, error):
    for native in (True, False):
        with pytest.raises(error):
            CandleAggregator(native=native).add([bad])


def test_without_the_compiled_core_the_embedded_pipeline_runs_the_specification_and_says_so_once(
        monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(spec, "_aggcore", None)  # as an install without a C compiler has it
    embedded._say_the_compiled_core_is_missing.cache_clear()
    for run in range(2):
        processor = EmbeddedProcessor(tmp_path / f"store{run}.sqlite")
        processor.open()
        assert not processor._aggregator.native
        update = processor.process([PriceBatch([bar()])])
        assert [c.timeframe for c in update.candles] == ["1m", "5m", "15m", "1h", "1d"]
        processor.close()
    said = [r for r in caplog.records if "compiled core is not built" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"
