"""Benchmark of the InfluxDB hot store on a real influxd (built by ``python -m stack.local prepare influxdb``).

Measures, on one server:

* write throughput of :class:`InfluxStore` (target ≥ 100,000 points/s) for one trading day of
  1m candles for 500 symbols (195,000 points, 7 fields each), written as the stack's Kafka sink
  writes them: one :meth:`InfluxStore.write` per consumed batch (``INFLUX_RECORDS_PER_WRITE``), stored
  when it returns;
* the reference project's pattern — one synchronous influxdb-client write of one
  ``Point`` per row — on the same kind of input, and the ratio of the two;
* p95 latency of a Flux query for one symbol-day of 1m candles (target ≤ 50 ms).

Prints a table and writes ``bench/results/influx.json``. Run:
``python bench/bench_influx.py [--symbols 500] [--per-row 3000] [--queries 300]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from backend.model import Candle, Timeframe  # noqa: E402
from backend.pipeline.stack_sinks import INFLUX_RECORDS_PER_WRITE as SINK_BATCH  # noqa: E402
from backend.stores.influx import InfluxSettings, InfluxStore  # noqa: E402
from stack.local.influxdb import InfluxServer  # noqa: E402

OPEN_MS = 1_748_871_000_000  # 2025-06-02 13:30 UTC, 09:30 New York
MIN = 60_000


def trading_day(symbols: int, minutes: int = 390) -> list[Candle]:
    """``symbols`` × ``minutes`` 1m candles with realistic prices, minute-major like a live feed."""
    rng = random.Random(7)
    names = [f"S{i:03d}" for i in range(symbols)]
    price = {s: rng.uniform(5, 900) for s in names}
    out = []
    for m in range(minutes):
        for s in names:
            p = price[s] = round(price[s] * (1 + rng.gauss(0, 0.001)), 2)
            out.append(Candle(s, Timeframe.M1, OPEN_MS + m * MIN, p, p + 0.05, p - 0.05, p, float(rng.randint(100, 90_000)),
                              round(p + 0.003, 4), rng.randint(1, 400)))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_write(url: str, candles: list[Candle], batch_size: int, bucket: str = "bench_write/hot",
                server_pid: int | None = None) -> dict:
    """Write the candles as the stack's sink does, one consumed batch (what one poll of its consumer returns at
    most) per :meth:`InfluxStore.write`; time the whole (encode + write).

    Besides wall time, the CPU seconds spent by this process and by influxd are
    recorded: on a shared machine they show what the pipeline costs regardless of
    what else is running.
    """
    store = InfluxStore(InfluxSettings(url=url, bucket=bucket, retention_days=None, batch_size=batch_size))
    server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
    client_cpu = time.process_time()
    started = time.perf_counter()
    for i in range(0, len(candles), SINK_BATCH):
        store.write(candles=candles[i:i + SINK_BATCH])
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    server_cpu = (cpu_seconds(server_pid) - server_cpu) if server_pid else float("nan")
    written = store.points_written
    store.close()
    return {"points": written, "seconds": round(elapsed, 3), "points_per_s": round(written / elapsed),
            "batch_size": batch_size, "records_per_call": SINK_BATCH,
            "client_cpu_s": round(client_cpu, 3), "server_cpu_s": round(server_cpu, 3),
            "points_per_cpu_s": round(written / (client_cpu + server_cpu)) if server_pid else None}


def bench_per_row(url: str, candles: list[Candle]) -> dict:
    """The reference pattern: one synchronous write of one Point per row (here with the correct ms precision)."""
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    with InfluxDBClient(url=url, token="bench:unused", org="tickerwire") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        started = time.perf_counter()
        for c in candles:
            point = (Point("candles").tag("symbol", c.symbol).tag("timeframe", c.timeframe.value)
                     .field("open", c.open).field("high", c.high).field("low", c.low).field("close", c.close)
                     .field("volume", c.volume).field("vwap", c.vwap).field("trades", c.trades)
                     .time(c.start_ms, WritePrecision.MS))
            api.write(bucket="bench_per_row/autogen", record=point, write_precision=WritePrecision.MS)
        elapsed = time.perf_counter() - started
    return {"points": len(candles), "seconds": round(elapsed, 3), "points_per_s": round(len(candles) / elapsed)}


def bench_queries(url: str, symbols: int, n: int, server_pid: int | None = None) -> dict:
    store = InfluxStore(InfluxSettings(url=url, bucket="bench_write/hot", retention_days=None))
    rng = random.Random(11)
    day_end = OPEN_MS + 390 * MIN
    for _ in range(10):  # warm up
        store.candles("S000", Timeframe.M1, OPEN_MS, day_end)
    times, rows = [], 0
    server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
    client_cpu = time.process_time()
    for _ in range(n):
        symbol = f"S{rng.randrange(symbols):03d}"
        started = time.perf_counter()
        got = store.candles(symbol, Timeframe.M1, OPEN_MS, day_end)
        times.append((time.perf_counter() - started) * 1000)
        rows = len(got)
    client_cpu = time.process_time() - client_cpu
    server_cpu = (cpu_seconds(server_pid) - server_cpu) if server_pid else float("nan")
    store.close()
    times.sort()
    return {"queries": n, "rows_per_query": rows, "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[int(0.95 * (n - 1))], 2), "max_ms": round(times[-1], 2),
            "client_cpu_ms_per_query": round(client_cpu * 1000 / n, 2),
            "server_cpu_ms_per_query": round(server_cpu * 1000 / n, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--per-row", type=int, default=3_000, help="rows for the one-write-per-row pattern")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=InfluxSettings.batch_size, help="points per request")
    args = parser.parse_args()

    candles = trading_day(args.symbols)
    with InfluxServer() as server:
        InfluxStore(InfluxSettings(url=server.url, bucket="bench_per_row/autogen",
                                   retention_days=None)).close()  # creates the database
        pid = server.process.pid
        write = bench_write(server.url, candles, args.batch_size, server_pid=pid)
        per_row = bench_per_row(server.url, candles[: args.per_row])
        same_rows = bench_write(server.url, candles[: args.per_row], args.batch_size, "bench_same_rows/hot")
        query = bench_queries(server.url, args.symbols, args.queries, server_pid=pid)

    ratio = same_rows["points_per_s"] / per_row["points_per_s"]
    result = {
        "server": "influxd 1.8.3 (built from the Go module), 127.0.0.1",
        "write": write,
        "per_row_write_reference_pattern": per_row,
        "write_same_rows_as_per_row": same_rows,
        "write_over_per_row_ratio": round(ratio, 1),
        "query_one_symbol_day_1m": query,
        "targets": {"write_points_per_s": 100_000, "query_p95_ms": 50},
    }
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # the machine is shared: read figures with this
    path = save("influx", result)

    rows = [
        ("write, as the sink does (points/s)", f"{write['points_per_s']:,}", "≥ 100,000",
         write["points_per_s"] >= 100_000),
        ("  client + server CPU (s)", f"{write['client_cpu_s']} + {write['server_cpu_s']}", "—", None),
        ("  points per CPU-second", f"{write['points_per_cpu_s']:,}", "—", None),
        ("one write per row (points/s)", f"{per_row['points_per_s']:,}", "—", None),
        (f"write / per-row ({args.per_row:,} rows each)", f"{ratio:.0f}×", "—", None),
        ("query symbol-day p95 (ms)", f"{query['p95_ms']}", "≤ 50", query["p95_ms"] <= 50),
        ("query symbol-day p50 (ms)", f"{query['p50_ms']}", "—", None),
        ("  CPU per query, client + server (ms)",
         f"{query['client_cpu_ms_per_query']} + {query['server_cpu_ms_per_query']}", "—", None),
    ]
    print(f"{'measure':34} {'value':>12}  {'target':>10}  ok")
    for name, value, target, ok in rows:
        print(f"{name:34} {value:>12}  {target:>10}  {'' if ok is None else ('yes' if ok else 'NO')}")
    print(f"wrote {path} (1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
