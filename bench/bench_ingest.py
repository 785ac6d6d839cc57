"""Embedded ingest throughput on one core: parsing at the edge, the aggregator, and the embedded processor.

Target: the embedded pipeline ingests ≥ 200,000 bars/s on one core. Measured on 300,000 ``AM``
bars of 20 symbols (~38 sessions each) in groups of 5,000, as the processor takes them off the bus:

* ``parse`` — websocket frames to bars (what a source does once, at the edge);
* ``aggregate`` — :class:`CandleAggregator` alone, with its compiled core (``_aggcore``) and with the Python
  one it is specified by (``aggregate_python_core``);
* ``aggregate_and_store`` — aggregator + one SQLite transaction of candle upserts per group;
* ``processor_backlog`` — :meth:`EmbeddedProcessor.process`, the worker's whole per-group path
  (aggregation with the store-seeded days, second bars, late repair, candles, impacts), while a
  source catches up (no alert is raised for history, as in the pipeline);
* ``processor_live`` — the same, with alert rules checked on every group.

Every measure runs under the product's garbage-collector policy (:mod:`backend.gc_policy`).

Run: ``python -m bench.bench_ingest [--profile out.pstats]``.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import tempfile
import time
from pathlib import Path

from bench.common import T0, save
from backend import gc_policy
from backend.bus.base import PriceBatch
from backend.model import Bar
from backend.pipeline.embedded import EmbeddedProcessor
from backend.processing.aggregator import CandleAggregator
from backend.stores.sqlite import SqliteStore
from backend.wire.polygon import encode_frame, parse_frame

SYMBOLS = 20
MINUTES = 15_000  # 20 symbols × 15,000 minutes = 300,000 AM bars (~38 sessions each)
BATCH = 5_000
TARGET = 200_000


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


def _rate(n: int, started: float) -> int:
    return round(n / (time.perf_counter() - started))


def _processor_rate(bars: list[Bar], catching_up: bool, profile: Path | None = None) -> int:
    groups = [[PriceBatch(bars[i:i + BATCH])] for i in range(0, len(bars), BATCH)]
    with tempfile.TemporaryDirectory() as d:
        processor = EmbeddedProcessor(Path(d) / "bench.sqlite")
        processor.open()
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for group in groups:
            processor.process(group, catching_up=catching_up)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        rate = _rate(len(bars), started)
        processor.close()
    return rate


def run(profile: Path | None = None) -> dict:
    gc_policy.apply()  # as in the product's processes (the tickerwire command, the sink service)
    bars = make_bars()
    frames = [encode_frame(bars[i:i + SYMBOLS]) for i in range(0, len(bars), SYMBOLS)]
    started = time.perf_counter()
    parsed = sum(len(parse_frame(f).bars) for f in frames)
    parse_rate = _rate(parsed, started)

    agg_rates = {}
    for native in (False, True):
        agg = CandleAggregator(native=native)
        started = time.perf_counter()
        for i in range(0, len(bars), BATCH):
            agg.add(bars[i:i + BATCH])
        agg_rates[native] = _rate(len(bars), started)

    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "bench.sqlite")
        agg = CandleAggregator()
        written = 0
        started = time.perf_counter()
        for i in range(0, len(bars), BATCH):
            candles = agg.add(bars[i:i + BATCH]).candles
            store.upsert_candles(candles)
            written += len(candles)
        both_rate = _rate(len(bars), started)
        store.close()

    result = {"bars": len(bars), "compiled_core": CandleAggregator().native, "parse_bars_per_s": parse_rate,
              "aggregate_python_core_bars_per_s": agg_rates[False], "aggregate_bars_per_s": agg_rates[True],
              "aggregate_and_store_bars_per_s": both_rate, "candle_rows_written": written,
              "processor_backlog_bars_per_s": _processor_rate(bars, catching_up=True, profile=profile),
              "processor_live_bars_per_s": _processor_rate(bars, catching_up=False),
              "target_bars_per_s": TARGET}
    save("ingest", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="write a cProfile of the backlog processor run here")
    args = parser.parse_args()
    for key, value in run(args.profile).items():
        print(f"{key:40s} {value:>12,}" if not isinstance(value, bool) else f"{key:40s} {value!s:>12}")


if __name__ == "__main__":
    main()
