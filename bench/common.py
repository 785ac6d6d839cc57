"""Shared benchmark helpers: percentiles, RSS, result files, synthetic candles."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
#: Kept runs, committed: one JSON per ``python -m bench`` run, named by date and commit.
RUNS = Path(__file__).resolve().parent / "runs"
T0 = 1738593060000


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def summary_ms(samples_ns) -> dict:
    ms = [s / 1e6 for s in samples_ns]
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(percentile(ms, 95), 3),
            "p99_ms": round(percentile(ms, 99), 3), "n": len(ms)}


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "qpa": os.environ.get("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else ""),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "command": " ".join(sys.argv)}


def commit() -> str:
    """The checked-out commit, with ``+changes`` when the work tree differs from it ('' outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+changes" if head and dirty else "")


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2))
    return path


def random_walk_rows(n: int, seed: int = 0) -> list[tuple]:
    """(start, open, high, low, close, volume, vwap) rows of ``n`` one-minute candles, market hours only."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.0006, n)) * close
    high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
    volume = rng.integers(100, 50_000, n).astype(float)
    minutes = np.arange(n)
    start = T0 + (minutes // 390) * 86_400_000 + (minutes % 390) * 60_000
    vwap = (open_ + high + low + close) / 4
    return list(zip(start.tolist(), open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(),
                    vwap.tolist()))
