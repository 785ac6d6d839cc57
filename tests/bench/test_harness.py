"""The chart comparison's harness and report: same VWAP as the app, working adapters, honest verdicts.

No speed is asserted here (speed targets live in bench/); these tests check that the
benchmark measures what it says it does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import chart_harness as harness
from bench import report
from bench.common import random_walk_rows


def test_reference_vwap_is_the_apps_session_vwap():
    from app.chart.data import ChartData
    from app.chart.view import _day_starts
    from backend.model import Timeframe
    from backend.pipeline import CandleSeries

    rows = random_walk_rows(2_000)  # five sessions
    series = CandleSeries.from_rows("X", Timeframe.M1, rows)
    data = ChartData.from_series(series, _day_starts(series.start))
    ours = harness.session_vwap(series.start, series.vwap, series.volume)
    np.testing.assert_allclose(ours, data.session_vwap[:data.n], rtol=1e-12)


@pytest.mark.parametrize("module, cls", [("bench.bench_chart", "TickerWireChart"),
                                         ("bench.chart_qpicture", "ClassicQPictureChart")])
def test_adapters_are_measured_to_the_painted_frame(qapp, module, cls):
    import importlib

    adapter = getattr(importlib.import_module(module), cls)()
    result = harness.measure(adapter, 500, ticks=5, pan_seconds=0.2)
    assert result["candles"] == 500
    assert result["live_update"]["n"] == 5 and result["append"]["n"] == 5
    assert result["live_update"]["median_ms"] > 0 and result["append"]["median_ms"] > 0
    assert result["first_paint_live_edge_ms"] > 0 and result["pan_zoomed_out_fps"] > 0
    assert adapter.n == 505  # five appended candles


def _row(impl, n, live, first, rss):
    return {"implementation": impl, "candles": n, "first_paint_live_edge_ms": first, "first_paint_zoomed_out_ms": first,
            "live_update": {"median_ms": live, "p95_ms": live * 2}, "append": {"median_ms": 1, "p95_ms": 2},
            "pan_zoomed_out_fps": 40, "rss_mb": rss, "rss_delta_mb": rss / 2, "load_average_before": [1.0]}


def test_report_ratios_and_verdicts():
    summary = {"chart": [_row("tickerwire", 100_000, 1.0, 50.0, 100.0), _row("finplot", 100_000, 8.0, 40.0, 120.0)]}
    targets = {t: (v, d, ok) for t, v, d, ok in report.chart_targets(summary)}
    median = targets["live-candle update ≥ 10× faster than finplot at 100k (median)"]
    assert median == ("8.00×", "short by 1.2×", False)
    live_edge = targets["first paint no slower than finplot, 100,000, live edge"]
    assert live_edge[2] is False and "10.0 ms" in live_edge[1]
    assert targets["RSS no higher than finplot's, 100,000, process"][2] is True
    assert report.ratio(2.0, 10.0, higher_better=False) == 5.0
    assert report.ratio(40.0, 20.0, higher_better=True) == 2.0


def test_two_runs_kept_in_the_same_minute_keep_both(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RUNS", tmp_path)
    first = {"machine": {"when": "2026-12-07 01:31:26", "commit": "5e013f2d436c"}, "ingest": {}}
    second = {"machine": {"when": "2026-12-07 01:31:58", "commit": "5e013f2d436c"}, "app": {}}

    paths = [report.keep(first), report.keep(second)]

    assert [p.name for p in paths] == ["2026-12-07T0131-5e013f2d436c.json", "2026-12-07T0131-5e013f2d436c-2.json"]
    assert [sorted(json.loads(p.read_text())) for p in paths] == [["ingest", "machine"], ["app", "machine"]]
