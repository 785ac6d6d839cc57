"""One measurement harness for every chart implementation in the comparison (issue 7).

TickerWire's chart (:mod:`bench.bench_chart`), pyqtgraph's classic QPicture candlestick
item (:mod:`bench.chart_qpicture`) and finplot (:mod:`bench.chart_finplot`) each provide
a :class:`ChartAdapter`; :func:`measure` times them all the same way:

* first paint at the live edge: from handing the chart its data until a synchronous
  repaint of the viewport has returned; fully zoomed out: from the range change until
  the repaint has returned;
* live-candle update and append: from the change until Qt has painted the frame that
  shows it (the view's ``paintEvent`` has returned; Qt repaints only the dirty region);
* panning fully zoomed out: frames/s of range change + synchronous repaint for 3 s, 90% of the
  candles in view moved across the data (never past either end);
* RSS of the process at the end (each implementation and size runs in its own process).

This module imports Qt only through pyqtgraph, so it runs under PySide6 (the app's venv)
and PyQt6 (finplot's venv) alike. It must not import ``app`` or ``backend``.
"""

from __future__ import annotations

import abc
import argparse
import json
import os
import sys
import time

if "QT_QPA_PLATFORM" not in os.environ:  # a real X server when there is one (issue 7 runs under Xvfb)
    os.environ["QT_QPA_PLATFORM"] = "xcb" if os.environ.get("DISPLAY") else "offscreen"

import numpy as np  # noqa: E402

from bench.common import T0, random_walk_rows, rss_mb, save, summary_ms  # noqa: E402

WIDTH, HEIGHT = 1600, 900
LIVE_WINDOW = 120  # candles shown at the live edge (TickerWire's default, used by all)
TICKS = 300
PHASE_BUDGET_S = 20.0  # a slow implementation stops a phase after this with MIN_SAMPLES, or after 3× this with 3
MIN_SAMPLES = 20
PAN_SECONDS = 3.0


class ChartAdapter(abc.ABC):
    """What the harness needs from one chart implementation.

    ``setup`` builds and shows an empty window of WIDTH×HEIGHT and prepares the input in the
    implementation's own format (not timed). Every other method is timed by the harness.
    """

    name = "?"
    binding = "?"

    @abc.abstractmethod
    def setup(self, rows: list[tuple]) -> None:
        """Build and show the empty window; convert ``rows`` to the implementation's format."""

    @property
    @abc.abstractmethod
    def viewport(self):
        """The QGraphicsView's viewport widget (for synchronous repaints)."""

    @property
    @abc.abstractmethod
    def frame_listeners(self) -> list:
        """Callables run after each ``paintEvent`` of the chart's view."""

    @property
    @abc.abstractmethod
    def n(self) -> int:
        """How many candles the chart holds."""

    @abc.abstractmethod
    def load(self) -> None:
        """Show the data, following the live edge (LIVE_WINDOW candles)."""

    @abc.abstractmethod
    def tick(self, k: int) -> None:
        """Change the live (last) candle: high grows a little, close moves, volume grows."""

    @abc.abstractmethod
    def append(self) -> None:
        """A new minute begins: append one candle."""

    @abc.abstractmethod
    def set_x_range(self, x0: float, x1: float) -> None:
        """Show candle indices ``[x0, x1]`` as a user's zoom or pan would (y fitted to them)."""

    def close(self) -> None:
        pass


def live_tick_values(o: float, h: float, l: float, c: float, v: float, k: int) -> tuple:
    """The same sequence of live-candle changes for every implementation."""
    return o, h + 0.001 * (k % 3), l, c + 0.001 * ((k % 7) - 3), v + 10


def append_values(last_start_ms: int, last_close: float) -> tuple:
    c = last_close
    return last_start_ms + 60_000, c, c + 0.05, c - 0.05, c + 0.01, 1000.0, c


def session_vwap(start: np.ndarray, vwap: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Cumulative VWAP restarting each session (day), for implementations that draw it themselves."""
    day = (start - T0) // 86_400_000
    pv, vol = np.cumsum(vwap * volume), np.cumsum(volume)
    new_session = np.r_[True, np.diff(day) != 0]
    first = np.flatnonzero(new_session)  # index of each session's first candle
    seg = np.cumsum(new_session) - 1  # session number of each candle
    base_pv = np.r_[0.0, pv][first][seg]  # totals before the session began
    base_vol = np.r_[0.0, vol][first][seg]
    return (pv - base_pv) / np.maximum(vol - base_vol, 1e-12)


def measure(adapter: ChartAdapter, n: int, ticks: int = TICKS, screenshots: str | None = None,
            pan_seconds: float = PAN_SECONDS) -> dict:
    from pyqtgraph.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    rss0 = rss_mb()
    rows = random_walk_rows(n)
    adapter.setup(rows)
    del rows
    app.processEvents()
    viewport = adapter.viewport

    t = time.perf_counter_ns()
    adapter.load()
    viewport.repaint()
    first_paint_live_ms = (time.perf_counter_ns() - t) / 1e6
    app.processEvents()
    _screenshot(adapter, screenshots, f"{adapter.name}-{n}-live-edge.png")

    live = summary_ms(_phase(app, adapter, lambda k: adapter.tick(k), ticks))
    append = summary_ms(_phase(app, adapter, lambda k: adapter.append(), ticks))

    m = adapter.n
    t = time.perf_counter_ns()
    adapter.set_x_range(0, m)
    viewport.repaint()
    first_paint_zoomed_out_ms = (time.perf_counter_ns() - t) / 1e6
    app.processEvents()
    _screenshot(adapter, screenshots, f"{adapter.name}-{n}-zoomed-out.png")

    frames, t = 0, time.perf_counter()
    step = max(1, m // 500)
    while time.perf_counter() - t < pan_seconds:
        # 90% of the candles in view, panned across the whole data (never past it: a chart that stops
        # at its data, as TickerWire's does since issue 17, would otherwise show the same range twice).
        offset = (frames % 50) * step
        adapter.set_x_range(offset, offset + m * 0.9)
        viewport.repaint()
        app.processEvents()
        frames += 1
    pan_fps = frames / (time.perf_counter() - t)
    rss = rss_mb()
    result = {
        "implementation": adapter.name, "binding": adapter.binding, "candles": n,
        "first_paint_live_edge_ms": round(first_paint_live_ms, 2),
        "first_paint_zoomed_out_ms": round(first_paint_zoomed_out_ms, 2), "live_update": live, "append": append,
        "pan_zoomed_out_fps": round(pan_fps, 2), "rss_mb": round(rss, 1), "rss_delta_mb": round(rss - rss0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **getattr(adapter, "extra", {}),
    }
    adapter.close()
    from pyqtgraph.Qt import QtCore

    app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)  # gone before the app is
    return result


def _screenshot(adapter: ChartAdapter, directory: str | None, name: str) -> None:
    """Save what the viewport shows (untimed; to check that every implementation draws the same chart)."""
    if directory:
        os.makedirs(directory, exist_ok=True)
        adapter.viewport.grab().save(os.path.join(directory, name))


def _phase(app, adapter: ChartAdapter, change, count: int) -> list[int]:
    samples: list[int] = []
    started = time.perf_counter()
    for k in range(count):
        samples.append(_timed_frame(app, adapter, lambda: change(k)))
        elapsed = time.perf_counter() - started
        if (len(samples) >= MIN_SAMPLES and elapsed > PHASE_BUDGET_S) or (len(samples) >= 3 and elapsed > 3 * PHASE_BUDGET_S):
            break
    return samples


def _timed_frame(app, adapter: ChartAdapter, change) -> int:
    """ns from applying a change until Qt has painted the frame that shows it (only the dirty region)."""
    painted: list[int] = []
    adapter.frame_listeners.append(lambda: painted.append(time.perf_counter_ns()))
    t = time.perf_counter_ns()
    change()
    while not painted:
        app.processEvents()
    adapter.frame_listeners.clear()
    return painted[0] - t


def main(adapter_factory, result_name: str, argv: list[str] | None = None) -> list[dict]:
    """CLI shared by the implementations: ``--sizes 10000,100000`` and ``--json`` (one line to stdout)."""
    parser = argparse.ArgumentParser(description=f"Chart benchmark: {result_name}")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line (for bench.run_all)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/<name>.json")
    parser.add_argument("--screenshots", metavar="DIR", help="save the live-edge and zoomed-out views as PNGs")
    parser.add_argument("--profile", metavar="FILE", help="run under cProfile, write pstats to FILE, print the top 30")
    args = parser.parse_args(argv)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    results = [measure(adapter_factory(), int(n), screenshots=args.screenshots) for n in args.sizes.split(",")]
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    if not args.no_save:
        save(result_name, {"results": results})
    if args.json:
        print("BENCH_JSON " + json.dumps(results), flush=True)
    else:
        for r in results:
            print(describe(r))
    return results


def describe(r: dict) -> str:
    return (f"{r['implementation']:>10} {r['candles']:>9,} candles: first paint {r['first_paint_live_edge_ms']:.1f} ms "
            f"(live edge), {r['first_paint_zoomed_out_ms']:.1f} ms (zoomed out); live update median "
            f"{r['live_update']['median_ms']} p95 {r['live_update']['p95_ms']} ms; append median "
            f"{r['append']['median_ms']} p95 {r['append']['p95_ms']} ms; pan {r['pan_zoomed_out_fps']} fps; "
            f"RSS {r['rss_mb']} MB")
