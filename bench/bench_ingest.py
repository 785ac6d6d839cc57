"""Ingest throughput on one core: wire parsing, aggregator, aggregator + SQLite store.

Target (issue 2): aggregator + store ≥ 200,000 bars/s. Run: ``python -m bench.bench_ingest``.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.common import T0, save
from backend.model import Bar
from backend.processing.aggregator import CandleAggregator
from backend.stores.sqlite import SqliteStore
from backend.wire.polygon import encode_frame, parse_frame

SYMBOLS = 20
MINUTES = 15_000  # 20 symbols × 15,000 minutes = 300,000 AM bars (~38 sessions each)
BATCH = 5_000


def make_bars() -> list[Bar]:
    rng = random.Random(1)
    bars = []
    for m in range(MINUTES):
        start = T0 + (m // 390) * 86_400_000 + (m % 390) * 60_000
        for s in range(SYMBOLS):
            p = 100 + rng.random()
            bars.append(Bar("AM", f"S{s:02d}", start, start + 60_000, p, p + 0.5, p - 0.5, p + 0.1,
                            float(rng.randrange(100, 10_000)), p, 0.0, 0.0, 0.0, 100.0, False))
    return bars


def run() -> dict:
    bars = make_bars()
    frames = [encode_frame(bars[i:i + SYMBOLS]) for i in range(0, len(bars), SYMBOLS)]
    t = time.perf_counter()
    parsed = sum(len(parse_frame(f).bars) for f in frames)
    parse_rate = parsed / (time.perf_counter() - t)

    agg = CandleAggregator()
    t = time.perf_counter()
    for i in range(0, len(bars), BATCH):
        agg.add(bars[i:i + BATCH])
    agg_rate = len(bars) / (time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "bench.sqlite")
        agg = CandleAggregator()
        t = time.perf_counter()
        written = 0
        for i in range(0, len(bars), BATCH):
            candles = agg.add(bars[i:i + BATCH]).candles
            store.upsert_candles(candles)
            written += len(candles)
        both_rate = len(bars) / (time.perf_counter() - t)
        store.close()
    result = {"bars": len(bars), "parse_bars_per_s": round(parse_rate), "aggregate_bars_per_s": round(agg_rate),
              "aggregate_and_store_bars_per_s": round(both_rate), "candle_rows_written": written,
              "target_aggregate_and_store_bars_per_s": 200_000}
    save("ingest", result)
    return result


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:40s} {v:>12,}")
