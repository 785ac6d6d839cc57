"""In-sitting A/B of the embedded processor (the figures the README's "what moved" notes quote for ingest).

Alternating in one process, so the machine's mood hits both sides alike:

* ``gc`` — CPython's default young-generation threshold vs :mod:`backend.gc_policy`'s;
* ``core`` — the aggregator's Python core (its specification) vs the compiled ``_aggcore``;
* ``ceiling`` — the processor as it runs vs the same with the aggregator's results computed beforehand
  (what the store and the signals leave once aggregation costs nothing).

Prints bars/s per round; nothing is kept. Run: ``python -m bench.ab_ingest [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from backend import gc_policy
from backend.bus.base import PriceBatch
from backend.pipeline.embedded import EmbeddedProcessor
from backend.processing.aggregator import PYTHON_CORE, CandleAggregator
from bench.bench_ingest import BATCH, make_bars


def processor_rate(groups: list[list[PriceBatch]], precomputed: bool, python_core: bool = False) -> int:
    """Bars/s of :meth:`EmbeddedProcessor.process` over ``groups`` (backlog), optionally with aggregation free
    or with the aggregator's Python core."""
    with tempfile.TemporaryDirectory() as d:
        processor = EmbeddedProcessor(Path(d) / "ab.sqlite")
        processor.open()
        if python_core:
            processor._aggregator._core = PYTHON_CORE
        if precomputed:
            ahead = CandleAggregator()
            results = iter([ahead.add(group[0].bars) for group in groups])
            processor._aggregator.add = lambda bars, force=False: next(results)
        started = time.perf_counter()
        for group in groups:
            processor.process(group, catching_up=True)
        elapsed = time.perf_counter() - started
        processor.close()
    return round(sum(len(g[0].bars) for g in groups) / elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bars = make_bars()
    groups = [[PriceBatch(bars[i:i + BATCH])] for i in range(0, len(bars), BATCH)]
    default = gc.get_threshold()
    for _ in range(args.rounds):
        gc.set_threshold(*default)
        gc.collect()
        print(f"gc default       {processor_rate(groups, False):>9,} bars/s (compiled core)", flush=True)
        gc_policy.apply()
        gc.collect()
        print(f"gc policy        {processor_rate(groups, False):>9,} bars/s (compiled core)", flush=True)
        print(f"python core      {processor_rate(groups, False, python_core=True):>9,} bars/s (gc policy)", flush=True)
        print(f"free aggregator  {processor_rate(groups, True):>9,} bars/s (gc policy)", flush=True)


if __name__ == "__main__":
    main()
