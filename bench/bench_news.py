"""News latency and Guardian calls: one sweep for the watchlist vs one query per symbol (issue 15).

A simulated UTC weekday (Monday) on a virtual clock, driven through the real Guardian poller,
its pacing and the relevance matcher (:mod:`fakes.news_sim` in ``tests/``): 20 symbols, company
stories arriving 4× as often during the New York session, namesake noise all day, each story
visible in the API up to a minute after its publication time. Latency is measured from API
visibility to the bus (the embedded pipeline then stores and shows it within milliseconds).

    python -m bench.bench_news [--seeds 3]

Prints a table and writes ``bench/results/news.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save

TESTS = Path(__file__).resolve().parents[1] / "tests"

SCENARIOS = {
    "one sweep, 500/day": dict(daily_budget=500),
    "per query, 500/day": dict(daily_budget=500, per_query=True),
    "per query, 10,000/day": dict(daily_budget=10_000, per_query=True),
}


def run(seeds: int) -> dict:
    os.environ.setdefault("TICKERWIRE_HOME", tempfile.mkdtemp(prefix="tickerwire-bench-news-"))
    sys.path.insert(0, str(TESTS))
    from fakes.news_sim import simulate_day

    out = {}
    for name, kwargs in SCENARIOS.items():
        rows = []
        for seed in range(15, 15 + seeds):
            started = time.perf_counter()
            day = simulate_day(seed=seed, **kwargs)
            rows.append(dict(day.row(), seed=seed, wall_s=round(time.perf_counter() - started, 1)))
        out[name] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="days simulated per scenario (different news)")
    args = parser.parse_args(argv)
    results = run(args.seeds)
    print(f"{'scenario':24} {'calls/day':>10} {'session p50':>12} {'session p95':>12} {'session max':>12} "
          f"{'missed':>7} {'noise routed':>13}")
    for name, rows in results.items():
        for r in rows:
            print(f"{name:24} {r['calls']:>10} {r['session_p50_s']:>11.1f}s {r['session_p95_s']:>11.1f}s "
                  f"{r['session_max_s']:>11.1f}s {r['missed']:>7} {r['routed_noise']:>13}")
    save("news", {"scenarios": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
