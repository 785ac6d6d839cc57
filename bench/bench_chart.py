"""Chart speed with N one-minute candles: first paint, live-candle update, append, zoomed-out panning, RSS.

Targets (issue 2, at 100,000 candles): live update ≤ 2 ms median and ≤ 8 ms p95 including the
repaint; panning fully zoomed out ≥ 30 frames/s. Every update timing runs until Qt has
painted the frame that shows the change (Qt repaints only the dirty region, as in the app). Run under a real X server for
issue 7's comparison: ``xvfb-run -a -s "-screen 0 1920x1080x24" python -m bench.bench_chart``.
"""

from __future__ import annotations

import argparse
import os
import time
from zoneinfo import ZoneInfo

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.chart.view import ChartView  # noqa: E402
from bench.common import random_walk_rows, rss_mb, save, summary_ms  # noqa: E402
from backend.model import Candle, Timeframe  # noqa: E402
from backend.pipeline import CandleSeries  # noqa: E402

WIDTH, HEIGHT = 1600, 900


def measure(n: int, ticks: int = 300) -> dict:
    app = QApplication.instance() or QApplication([])
    rss0 = rss_mb()
    rows = random_walk_rows(n)
    series = CandleSeries.from_rows("BENCH", Timeframe.M1, rows)
    view = ChartView(ZoneInfo("America/New_York"))
    view.resize(WIDTH, HEIGHT)
    view.show()
    app.processEvents()
    viewport = view.graphics.viewport()

    t = time.perf_counter_ns()
    view.set_series(series, [])
    viewport.repaint()
    first_paint_live_ms = (time.perf_counter_ns() - t) / 1e6

    # Live-candle updates at the live edge.
    d = view.data
    samples = []
    for k in range(ticks):
        i = d.n - 1
        tick = Candle("BENCH", Timeframe.M1, int(d.start[i]), d.open[i], d.high[i] + 0.001 * (k % 3),
                      d.low[i], d.close[i] + 0.001 * ((k % 7) - 3), d.volume[i] + 10, d.vwap[i], 1)
        samples.append(_timed_frame(app, view, lambda: view.apply_candles([tick])))
    live = summary_ms(samples)

    # Appends (a new minute starts).
    samples = []
    for _ in range(ticks):
        i = d.n - 1
        c = d.close[i]
        new = Candle("BENCH", Timeframe.M1, int(d.start[i]) + 60_000, c, c + 0.05, c - 0.05, c + 0.01, 1000, c, 1)
        samples.append(_timed_frame(app, view, lambda: view.apply_candles([new])))
    append = summary_ms(samples)

    # Fully zoomed out: first paint, then panning.
    t = time.perf_counter_ns()
    view.price.setXRange(0, d.n, padding=0)
    viewport.repaint()
    first_paint_zoomed_out_ms = (time.perf_counter_ns() - t) / 1e6
    frames, t = 0, time.perf_counter()
    step = max(1, d.n // 200)
    while time.perf_counter() - t < 3.0:
        offset = (frames % 100) * step
        view.price.setXRange(offset - d.n * 0.1, offset + d.n * 0.9, padding=0)
        viewport.repaint()
        app.processEvents()
        frames += 1
    pan_fps = frames / (time.perf_counter() - t)
    result = {
        "candles": n, "first_paint_live_edge_ms": round(first_paint_live_ms, 2),
        "first_paint_zoomed_out_ms": round(first_paint_zoomed_out_ms, 2), "live_update": live, "append": append,
        "pan_zoomed_out_fps": round(pan_fps, 1), "rss_mb": round(rss_mb(), 1), "rss_delta_mb": round(rss_mb() - rss0, 1),
    }
    view.close()
    return result


def _timed_frame(app, view, change) -> int:
    """ns from applying a change until Qt has painted the frame that shows it (only the dirty region)."""
    painted = []
    view.graphics.frame_listeners.append(lambda: painted.append(time.perf_counter_ns()))
    t = time.perf_counter_ns()
    change()
    while not painted:
        app.processEvents()
    view.graphics.frame_listeners.clear()
    return painted[0] - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    results = [measure(int(n)) for n in args.sizes.split(",")]
    save("chart_tickerwire", {"results": results, "targets": {"live_update_median_ms": 2, "live_update_p95_ms": 8,
                                                             "pan_zoomed_out_fps": 30}})
    for r in results:
        print(f"{r['candles']:>9,} candles: first paint {r['first_paint_live_edge_ms']:.1f} ms (live edge), "
              f"{r['first_paint_zoomed_out_ms']:.1f} ms (zoomed out); live update median {r['live_update']['median_ms']} "
              f"p95 {r['live_update']['p95_ms']} ms; append median {r['append']['median_ms']} p95 {r['append']['p95_ms']} "
              f"ms; pan {r['pan_zoomed_out_fps']} fps; RSS {r['rss_mb']} MB")


if __name__ == "__main__":
    main()
