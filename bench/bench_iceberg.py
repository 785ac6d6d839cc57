"""Benchmark of the Iceberg archive (pyiceberg, SQL catalog + local file warehouse).

Measures:

* one append of a trading day of 1m candles for 500 symbols (500 × 390) — target ≤ 10 s;
* a live-like day: many small appends into one day partition with automatic compaction —
  the most data files the partition ever holds after a flush (target ≤ 4);
* an explicit compaction of a day left with many files, and the files it leaves (target ≤ 4);
* reading one symbol-day back (with dedupe on read).

Prints a table and writes ``bench/results/iceberg.json``. Run:
``python bench/bench_iceberg.py [--symbols 500] [--live-batches 39]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from backend.model import Timeframe  # noqa: E402
from backend.stores.iceberg_archive import IcebergArchive  # noqa: E402
from backend.stores.iceberg_tables import day_of  # noqa: E402
from bench.bench_influx import OPEN_MS, MIN, trading_day  # noqa: E402



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--live-batches", type=int, default=39, help="small appends in the live-like day")
    args = parser.parse_args()
    candles = trading_day(args.symbols)
    day = day_of(OPEN_MS)

    with tempfile.TemporaryDirectory(prefix="tw-iceberg-bench-") as root:
        archive = IcebergArchive.local(Path(root) / "one-append")
        started = time.perf_counter()
        archive.append_candles(candles)
        append_s = time.perf_counter() - started
        files_after_append = archive.file_counts()[day]

        reads = []
        for i in range(20):
            started = time.perf_counter()
            got = archive.candles(f"S{i:03d}", Timeframe.M1, OPEN_MS, OPEN_MS + 390 * MIN)
            reads.append((time.perf_counter() - started) * 1000)
        assert len(got) == 390, len(got)

        # Live-like: the day arrives in small appends (every 10 minutes), plus one full replay.
        live = IcebergArchive.local(Path(root) / "live")
        per_batch = len(candles) // args.live_batches + 1
        max_files, flush_times = 0, []
        for i in range(0, len(candles), per_batch):
            started = time.perf_counter()
            live.append_candles(candles[i:i + per_batch])
            flush_times.append(time.perf_counter() - started)
            max_files = max(max_files, live.file_counts()[day])
        live.append_candles(candles)  # a replay of the whole day: no duplicates on read
        max_files = max(max_files, live.file_counts()[day])
        replay_rows = len(live.candles("S001", Timeframe.M1))

        # Explicit compaction of a day left with many files.
        many = IcebergArchive.local(Path(root) / "many", max_files_per_day=10_000)
        for i in range(0, len(candles), per_batch):
            many.append_candles(candles[i:i + per_batch])
        files_before = many.file_counts()[day]
        started = time.perf_counter()
        many.compact(day)
        compact_s = time.perf_counter() - started
        files_after = many.file_counts()[day]
        rows_after = many.candle_rows().num_rows

    result = {
        "catalog": "pyiceberg SQL catalog (sqlite) + local file warehouse",
        "append_one_day": {"candles": len(candles), "seconds": round(append_s, 3), "files": files_after_append},
        "read_symbol_day_ms": {"p50": round(statistics.median(reads), 1), "max": round(max(reads), 1)},
        "live_day": {"appends": len(flush_times) + 1, "max_files_in_partition": max_files,
                     "append_p50_s": round(statistics.median(flush_times), 3),
                     "append_max_s": round(max(flush_times), 3), "rows_per_symbol_after_replay": replay_rows},
        "explicit_compaction": {"files_before": files_before, "files_after": files_after,
                                "seconds": round(compact_s, 3), "rows_after": rows_after},
        "targets": {"append_one_day_s": 10, "files_per_day_partition": 4},
    }
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # the machine is shared: read figures with this
    path = save("iceberg", result)

    rows = [
        (f"append {len(candles):,} candles (s)", f"{append_s:.2f}", "≤ 10", append_s <= 10),
        ("live day: max files/partition", str(max_files), "≤ 4", max_files <= 4),
        ("live day: append p50 / max (s)", f"{statistics.median(flush_times):.2f} / {max(flush_times):.2f}", "—", None),
        ("replay: rows per symbol-day", str(replay_rows), "390", replay_rows == 390),
        ("compaction: files before → after", f"{files_before} → {files_after}", "≤ 4", files_after <= 4),
        ("compaction time (s)", f"{compact_s:.2f}", "—", None),
        ("read symbol-day p50 (ms)", f"{statistics.median(reads):.0f}", "—", None),
    ]
    print(f"{'measure':36} {'value':>14}  {'target':>7}  ok")
    for name, value, target, ok in rows:
        print(f"{name:36} {value:>14}  {target:>7}  {'' if ok is None else ('yes' if ok else 'NO')}")
    print(f"wrote {path} (1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
