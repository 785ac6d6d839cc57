"""Run every benchmark of issue 7 in one go: ``.venv/bin/python -m bench``.

1. Waits (a bounded time) for the machine's load average to drop, and records it.
2. Chart comparison under a real X server (Xvfb unless ``DISPLAY`` is set): TickerWire's
   chart, pyqtgraph's classic QPicture item (both in this venv, PySide6) and finplot (its
   own PyQt6 venv, created from ``bench/requirements-finplot.txt`` if missing), one process
   per implementation and size so RSS is each one's own; sizes are interleaved so the
   three implementations of a size run back to back.
3. Pipeline: :mod:`bench.bench_ingest`, :mod:`bench.bench_kafka` (real broker + Flink job),
   :mod:`bench.bench_influx` (real influxd; per-row reference pattern vs the sink's write),
   :mod:`bench.bench_iceberg` (the archive), :mod:`bench.bench_news` (news latency, Guardian calls),
   :mod:`bench.bench_app` (startup, RSS, message-to-pixel latency) and, where a Docker engine
   answers, :mod:`bench.bench_docker` (``stack up`` times, Flink and lag inside the containers) and
   :mod:`bench.bench_remote_link` (the window on the stack over a simulated 20 ms link; root, iptables),
   each as its own process, read back from the JSON it writes.
4. :mod:`bench.report` prints the table with ratios and writes ``bench/results/summary.{json,md,png}``;
   the run's JSON (machine, load, command, commit) is kept in ``bench/runs/`` — committed, so a figure
   in the README can be traced to the run that measured it.

A benchmark that fails is recorded with its error and the rest go on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS, machine

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "bench" / "requirements-finplot.txt"
XVFB = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24"]
CHARTS = {"tickerwire": "bench.bench_chart", "qpicture": "bench.chart_qpicture", "finplot": "bench.chart_finplot",
          "tickerwire-indicators": "bench.bench_chart"}
#: Extra arguments per implementation: TickerWire's chart with two indicators on (issue 17).
CHART_ARGS = {"tickerwire-indicators": ["--indicators", "ema:20,bb:20:2"]}
PIPELINE = ("ingest", "kafka", "influx", "iceberg", "news", "app", "docker", "remote-link")


def cache_dir() -> Path:
    configured = os.environ.get("TICKERWIRE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tickerwire"


def bench_venv_python() -> Path:
    """The finplot + matplotlib venv's interpreter; creates or refreshes the venv from the pinned requirements."""
    venv = cache_dir() / "bench-finplot-venv"
    python = venv / "bin" / "python"
    stamp = venv / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"preparing the benchmark venv {venv} (finplot, PyQt6, matplotlib) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(digest)
    return python


def wait_for_load(threshold: float, max_wait_s: float) -> list[float]:
    """Wait until the 1-minute load average is ≤ ``threshold`` or ``max_wait_s`` has passed."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] > threshold and time.monotonic() < deadline:
        print(f"load average {os.getloadavg()[0]:.1f} > {threshold}; waiting ...", flush=True)
        time.sleep(min(30.0, max(1.0, deadline - time.monotonic())))
    return [round(x, 2) for x in os.getloadavg()]


def _gui_env() -> tuple[list[str], dict]:
    """Command prefix and environment for a Qt process on a real X server."""
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    if os.environ.get("DISPLAY"):
        return [], env
    if shutil.which("xvfb-run") is None:
        raise RuntimeError("no DISPLAY and no xvfb-run: install Xvfb (apt-get install xvfb)")
    return XVFB, env


def docker_problem() -> str:
    """Why the Docker benchmark cannot run here ('' when an engine answers)."""
    from stack.engine import docker_problem as problem

    return problem()


def remote_link_problem() -> str:
    """Why the remote-link benchmark cannot run here ('' when it can)."""
    from bench.bench_remote_link import problem

    return problem()


def run_chart(python: Path, module: str, size: int, timeout: float, extra: list[str] = ()) -> dict:
    prefix, env = _gui_env()
    cmd = [*prefix, str(python), "-m", module, "--sizes", str(size), "--json", "--no-save", *extra]
    load = [round(x, 2) for x in os.getloadavg()]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])[0]
            result["load_average_before"] = load
            return result
    raise RuntimeError(f"{module} --sizes {size} exited {proc.returncode}:\n{proc.stderr[-3000:]}")


def run_module(args: list[str], result_file: str, timeout: float, gui: bool = False) -> dict:
    """Run an existing benchmark as its own process and read back the JSON it saved."""
    path = RESULTS / f"{result_file}.json"
    path.unlink(missing_ok=True)
    prefix, env = _gui_env() if gui else ([], dict(os.environ, PYTHONPATH=str(ROOT)))
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    proc = subprocess.run([*prefix, sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{(proc.stderr or proc.stdout)[-3000:]}")
    data = json.loads(path.read_text())
    data["load_average_before"] = load
    data["wall_s"] = round(time.monotonic() - started, 1)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chart sizes (candles)")
    parser.add_argument("--only", default="chart," + ",".join(PIPELINE),
                        help="comma-separated subset of: chart, " + ", ".join(PIPELINE))
    parser.add_argument("--implementations", default=",".join(CHARTS), help="chart implementations to run")
    parser.add_argument("--max-load", type=float, default=3.0, help="wait for this 1-minute load average first")
    parser.add_argument("--max-wait", type=float, default=300.0, help="but wait at most this many seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="per benchmark process, seconds")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    summary: dict = {"machine": machine(), "command": "python -m bench " + " ".join(argv or sys.argv[1:]),
                     "errors": {}}
    summary["load_average_start"] = wait_for_load(args.max_load, args.max_wait)
    print(f"load average at start: {summary['load_average_start']} on {os.cpu_count()} CPUs", flush=True)

    if "chart" in only:
        pythons = {"tickerwire": Path(sys.executable), "qpicture": Path(sys.executable),
                   "tickerwire-indicators": Path(sys.executable)}
        impls = args.implementations.split(",")
        if "finplot" in impls:
            pythons["finplot"] = bench_venv_python()
        charts = []
        for size in (int(s) for s in args.sizes.split(",")):
            for impl in impls:
                print(f"chart: {impl} with {size:,} candles ...", flush=True)
                try:
                    charts.append(run_chart(pythons[impl], CHARTS[impl], size, args.timeout, CHART_ARGS.get(impl, [])))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    summary["errors"][f"chart {impl} {size}"] = str(exc)
                    print(f"  failed: {str(exc)[:500]}", flush=True)
        summary["chart"] = charts

    stack_components = [c for c, b in (("kafka", "kafka"), ("flink", "kafka"), ("influxdb", "influx")) if b in only]
    if stack_components:
        print(f"preparing the local stack: {' '.join(stack_components)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "stack.local", "prepare", *stack_components], cwd=ROOT, check=False,
                       capture_output=True)
    steps = {
        "ingest": (["-m", "bench.bench_ingest"], "ingest", False),
        "kafka": (["-m", "bench.bench_kafka"], "kafka", False),
        "influx": (["bench/bench_influx.py"], "influx", False),
        "iceberg": (["bench/bench_iceberg.py"], "iceberg", False),
        "news": (["-m", "bench.bench_news"], "news", False),
        "app": (["-m", "bench.bench_app"], "app", True),
        "docker": (["-m", "bench.bench_docker"], "docker", False),
        "remote-link": (["-m", "bench.bench_remote_link"], "remote_link", False),
    }
    problems = {"docker": docker_problem, "remote-link": remote_link_problem}
    for name in PIPELINE:
        if name not in only:
            continue
        problem = problems[name]() if name in problems else ""
        if problem:
            summary["errors"][name] = f"not run: {problem}"
            print(f"{name}: not run: {problem}", flush=True)
            continue
        cmd, result_file, gui = steps[name]
        print(f"{name} ...", flush=True)
        try:
            summary[name] = run_module(cmd, result_file, args.timeout, gui=gui)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            summary["errors"][name] = str(exc)
            print(f"  failed: {str(exc)[:500]}", flush=True)
    summary["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    from bench import report

    report.write(summary)
    print(f"kept as {report.keep(summary)}", flush=True)
    try:
        report.render_png(bench_venv_python())
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"PNG not written: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
