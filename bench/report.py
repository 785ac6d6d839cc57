"""Turn one run of ``python -m bench`` into a table with ratios, JSON and a PNG.

:func:`write` (called by :mod:`bench.run_all`, standard library only) prints the
Markdown table and writes ``bench/results/summary.json`` and ``summary.md``.
:func:`render_png` draws ``bench/results/summary.png`` with matplotlib in the benchmark
venv, so the app's venv does not need matplotlib. Re-render from a saved run:
``python -m bench.report`` (table) or ``<bench venv>/bin/python -m bench.report --png``.

Ratios are "how many times better TickerWire is": reference ÷ TickerWire for times and
memory, TickerWire ÷ reference for frames/s; above 1 TickerWire is ahead.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from bench.common import RESULTS, RUNS

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("tickerwire", "finplot", "qpicture")
LABELS = {"tickerwire": "TickerWire", "finplot": "finplot", "qpicture": "QPicture item",
          "tickerwire-indicators": "TickerWire + EMA 20, BB 20"}
# (key, label, unit, higher is better)
CHART_MEASURES = [
    ("first_paint_live_edge_ms", "first paint, live edge", "ms", False),
    ("first_paint_zoomed_out_ms", "first paint, zoomed out", "ms", False),
    ("live_update.median_ms", "live-candle update median", "ms", False),
    ("live_update.p95_ms", "live-candle update p95", "ms", False),
    ("append.median_ms", "append median", "ms", False),
    ("append.p95_ms", "append p95", "ms", False),
    ("pan_zoomed_out_fps", "panning, zoomed out", "frames/s", True),
    ("rss_mb", "RSS", "MB", False),
    ("rss_delta_mb", "RSS growth (data + chart)", "MB", False),
]


def _get(d: dict | None, key: str):
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _fmt(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (int, float)) and abs(v) >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1 else f"{v:.{max(digits, 2)}f}"
    return str(v)


def ratio(tw, other, higher_better: bool) -> float | None:
    if tw is None or other is None or tw <= 0 or other <= 0:
        return None
    return tw / other if higher_better else other / tw


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else (f"{r:.0f}×" if r >= 10 else f"{r:.2f}×")


def chart_index(summary: dict) -> dict[tuple[str, int], dict]:
    return {(r["implementation"], r["candles"]): r for r in summary.get("chart", [])}


def chart_table(summary: dict) -> list[str]:
    idx = chart_index(summary)
    if not idx:
        print("no chart figures in this run: summary.png not drawn")
        return
    sizes = sorted({n for _, n in idx})
    with_indicators = any(i == "tickerwire-indicators" for i, _ in idx)
    extra = " TickerWire, 2 indicators |" if with_indicators else ""
    lines = [f"| candles | measure | TickerWire |{extra} finplot | QPicture item | vs finplot | vs QPicture |",
             "|---:|---|---:|" + ("---:|" if with_indicators else "") + "---:|---:|---:|---:|"]
    for n in sizes:
        for key, label, unit, higher in CHART_MEASURES:
            vals = {i: _get(idx.get((i, n)), key) for i in (*IMPLS, "tickerwire-indicators")}
            r_f = ratio(vals["tickerwire"], vals["finplot"], higher)
            r_q = ratio(vals["tickerwire"], vals["qpicture"], higher)
            cell = f" {_fmt(vals['tickerwire-indicators'], 2)} |" if with_indicators else ""
            lines.append(f"| {n:,} | {label} ({unit}) | {_fmt(vals['tickerwire'], 2)} |{cell} "
                         f"{_fmt(vals['finplot'], 2)} | {_fmt(vals['qpicture'], 2)} | {_fmt_ratio(r_f)} | "
                         f"{_fmt_ratio(r_q)} |")
    return lines


def chart_targets(summary: dict) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, verdict detail, met) for issue 7's chart targets and issue 2's."""
    idx = chart_index(summary)
    out = []
    tw, fp = idx.get(("tickerwire", 100_000)), idx.get(("finplot", 100_000))
    if tw and fp:
        for key, what in (("live_update.median_ms", "median"), ("live_update.p95_ms", "p95")):
            r = ratio(_get(tw, key), _get(fp, key), False)
            out.append((f"live-candle update ≥ 10× faster than finplot at 100k ({what})", _fmt_ratio(r),
                        "" if r is None or r >= 10 else f"short by {10 / r:.1f}×", None if r is None else r >= 10))
    for n in sorted({n for _, n in idx}):
        tw, fp = idx.get(("tickerwire", n)), idx.get(("finplot", n))
        if not (tw and fp):
            continue
        for key, what in (("first_paint_live_edge_ms", "live edge"), ("first_paint_zoomed_out_ms", "zoomed out")):
            a, b = tw[key], fp[key]
            out.append((f"first paint no slower than finplot, {n:,}, {what}", f"{_fmt(a)} vs {_fmt(b)} ms",
                        "" if a <= b else f"{a - b:.1f} ms ({a / b:.2f}×) slower", a <= b))
        for key, what in (("rss_mb", "process"), ("rss_delta_mb", "growth")):
            a, b = tw[key], fp[key]
            out.append((f"RSS no higher than finplot's, {n:,}, {what}", f"{_fmt(a)} vs {_fmt(b)} MB",
                        "" if a <= b else f"{a - b:.1f} MB higher", a <= b))
    tw = idx.get(("tickerwire", 100_000))
    if tw:
        for key, limit, what in (("live_update.median_ms", 2, "median ≤ 2 ms"), ("live_update.p95_ms", 8, "p95 ≤ 8 ms")):
            v = _get(tw, key)
            out.append((f"issue 2: live update at 100k {what}", f"{_fmt(v, 2)} ms",
                        "" if v <= limit else f"{v - limit:.2f} ms over", v <= limit))
            twi = idx.get(("tickerwire-indicators", 100_000))
            if twi:
                v = _get(twi, key)
                out.append((f"issue 17: live update at 100k with two indicators {what}", f"{_fmt(v, 2)} ms",
                            "" if v <= limit else f"{v - limit:.2f} ms over", v <= limit))
        v = tw["pan_zoomed_out_fps"]
        out.append(("issue 2: panning zoomed out at 100k ≥ 30 frames/s", f"{_fmt(v)}",
                    "" if v >= 30 else f"{30 - v:.1f} frames/s short", v >= 30))
    return out


def pipeline_rows(summary: dict) -> list[tuple[str, str, str, str, str, bool | None]]:
    """(measure, TickerWire, reference, ratio, target, met)."""
    rows = []
    ing = summary.get("ingest")
    if ing:
        v = ing["processor_backlog_bars_per_s"]
        rows.append(("embedded ingest, the processor's whole path, backlog (bars/s, one core)", _fmt(v), "", "",
                     "≥ 200,000", v >= 200_000))
        rows.append(("embedded ingest, aggregator + SQLite only (bars/s)", _fmt(ing["aggregate_and_store_bars_per_s"]),
                     "", "", "", None))
        rows.append(("embedded ingest with alert rules checked per group (bars/s)",
                     _fmt(ing["processor_live_bars_per_s"]), "", "", "", None))
    k = summary.get("kafka")
    if k:
        v = k["producer"]["msgs_per_s"]
        rows.append(("Kafka producer (msgs/s, acks=all, lz4)", _fmt(v), "", "", "≥ 100,000", v >= 100_000))
        v = k["flink_input"]["bars_per_s"]
        rows.append(("Flink job input from Kafka (bars/s)", _fmt(v), "", "", "≥ 100,000", v is not None and v >= 100_000))
        lag = k["lag"]
        rows.append((f"Kafka → Flink → sink lag p50 at {lag['achieved_rate']:,} msgs/s (s)", _fmt(lag["p50_s"], 3),
                     "", "", "", None))
        rows.append((f"Kafka → Flink → sink lag p99 at {lag['achieved_rate']:,} msgs/s (s)", _fmt(lag["p99_s"], 3),
                     "", "", "≤ 1.5", lag["p99_s"] <= 1.5))
    app = summary.get("app")
    if app:
        m = app["latency"]["message_to_pixel"]
        rows.append(("message-to-pixel p50, embedded (ms)", _fmt(m["median_ms"], 2), "", "", "", None))
        rows.append(("message-to-pixel p99, embedded (ms)", _fmt(m["p99_ms"], 2), "", "", "≤ 50", m["p99_ms"] <= 50))
    dock = summary.get("docker")
    if dock:
        rows.append(("stack up, images built (s)", _fmt(dock["stack_up_after_down"]["seconds"], 1), "", "", "", None))
        first = dock["stack_up_after_down"].get("first_live_candle_s")
        if first is not None:
            rows.append(("first live candle after stack up, images built (s)", _fmt(first, 1), "", "", "≤ 60",
                         first <= 60))
        rows.append(("Flink input inside the containers, sustained (bars/s)",
                     _fmt(dock["flink_input"]["sustained_bars_per_s"]), "", "", "≥ 100,000",
                     dock["flink_input"]["sustained_bars_per_s"] >= 100_000))
        rows.append((f"Docker stack lag p99 at {dock['lag']['achieved_rate']:,} msgs/s (s)", _fmt(dock["lag"]["p99_s"], 3),
                     "", "", "≤ 1.5", dock["lag"]["p99_s"] <= 1.5))
        pixel = dock.get("message_to_pixel")
        if pixel:
            p99 = pixel["message_to_pixel"]["p99_ms"]
            rows.append((f"message-to-pixel p99, stack mode at {pixel['offered_second_bars_per_s']:,} msgs/s (ms)",
                         _fmt(p99, 1), "", "", "≤ 1,500", p99 <= 1500))
    link = summary.get("remote-link")
    if link:
        p99, direct = link["with_link"]["message_to_pixel"]["p99_ms"], link["direct"]["message_to_pixel"]["p99_ms"]
        rows.append((f"message-to-pixel p99, stack over a {link['delay_ms_each_way']:g} ms link (each way) at "
                     f"{link['with_link']['offered_second_bars_per_s']:,} msgs/s; reference: no link (ms)",
                     _fmt(p99, 1), _fmt(direct, 1), "", "≤ 1,500", p99 <= 1500))
    ice = summary.get("iceberg")
    if ice:
        s = ice["append_one_day"]["seconds"]
        rows.append((f"Iceberg append, one day × 500 symbols ({ice['append_one_day']['candles']:,} candles, s)",
                     _fmt(s, 2), "", "", "≤ 10", s <= 10))
        f = ice["live_day"]["max_files_in_partition"]
        rows.append(("Iceberg live day: most files in a day partition", str(f), "", "", "≤ 4", f <= 4))
    news = summary.get("news")
    if news:
        sweep, per_query = news["scenarios"].get("one sweep, 500/day"), news["scenarios"].get("per query, 500/day")
        if sweep:
            p95 = max(r["session_p95_s"] for r in sweep)
            rows.append(("news latency p95 in the session, one sweep at 500 calls/day (s, worst day)", _fmt(p95, 1),
                         _fmt(max(r["session_p95_s"] for r in per_query), 1) if per_query else "", "", "≤ 90",
                         p95 <= 90))
    inf = summary.get("influx")
    if inf:
        w, p, same = inf["write"], inf["per_row_write_reference_pattern"], inf["write_same_rows_as_per_row"]
        rows.append(("InfluxDB write: the sink's vs one synchronous write per row (points/s, same rows)",
                     _fmt(same["points_per_s"]), _fmt(p["points_per_s"]), _fmt_ratio(inf["write_over_per_row_ratio"]),
                     "", None))
        rows.append(("InfluxDB write, one day × 500 symbols, as the stack's Kafka sink writes (points/s)",
                     _fmt(w["points_per_s"]), "", "", "≥ 100,000", w["points_per_s"] >= 100_000))
        q = inf["query_one_symbol_day_1m"]
        rows.append(("InfluxDB query, one symbol-day of 1m candles, p95 (ms)", _fmt(q["p95_ms"], 2), "", "", "≤ 50",
                     q["p95_ms"] <= 50))
    if app:
        s = app["startup"]
        if s.get("window_visible_s") is not None:
            rows.append(("app window visible after launch (s)", _fmt(s["window_visible_s"], 2), "", "", "≤ 2",
                         s["window_visible_s"] <= 2))
        rows.append(("app peak RSS, 20 symbols × 5 days + 2,000 articles (MB)", _fmt(s["peak_rss_mb"]), "", "",
                     "≤ 350", s["peak_rss_mb"] <= 350))
        if s.get("archive_process_peak_rss_mb") is not None:
            rows.append(("  its archive child process (pyiceberg, pyarrow), peak RSS (MB)",
                         _fmt(s["archive_process_peak_rss_mb"]), "", "", "", None))
    return rows


def _ok(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; run {m['when']} at commit "
             f"{m.get('commit') or '?'}; "
             f"load average (1, 5, 15 min) {summary['load_average_start']} at start, "
             f"{summary['load_average_end']} at end (the machine is shared).",
             "", f"Command: `{summary['command'].strip()}`", ""]
    if summary.get("chart"):
        loads = ", ".join(f"{LABELS[r['implementation']]} {r['candles']:,}: {r['load_average_before'][0]}"
                          for r in summary["chart"])
        lines += ["### Chart: same data, 1600×900 window, Xvfb, one process per implementation and size", "",
                  "Ratios: how many times better TickerWire is (reference ÷ TickerWire for ms and MB, "
                  "TickerWire ÷ reference for frames/s).", "", *chart_table(summary), "",
                  f"1-minute load average before each chart process: {loads}.", "",
                  "| chart target | measured | | |", "|---|---|---|---|"]
        lines += [f"| {t} | {v} | {_ok(ok)} | {d} |" for t, v, d, ok in chart_targets(summary)]
        lines.append("")
    lines += ["### Pipeline", "", "| measure | TickerWire | reference | ratio | target | |",
              "|---|---:|---:|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | {_ok(ok)} |" for a, b, c, d, e, ok in pipeline_rows(summary)]
    if summary.get("errors"):
        lines += ["", "Failed in this run: " + "; ".join(f"{k}: {v.splitlines()[-1] if v else ''}"
                                                        for k, v in summary["errors"].items())]
    return "\n".join(lines) + "\n"


def write(summary: dict) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    text = markdown(summary)
    (RESULTS / "summary.md").write_text(text)
    print(text)
    print(f"wrote {RESULTS / 'summary.json'} and {RESULTS / 'summary.md'}")
    return text


def keep(summary: dict) -> Path:
    """Save the run's summary under ``bench/runs/`` (committed), named by its date and commit; a second run
    started in the same minute at the same commit gets ``-2`` (and so on), never the first one's name."""
    RUNS.mkdir(parents=True, exist_ok=True)
    m = summary["machine"]
    stem = f"{m['when'][:16].replace(' ', 'T').replace(':', '')}-{m.get('commit') or 'nogit'}"
    path, n = RUNS / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = RUNS / f"{stem}-{n}.json"
    path.write_text(json.dumps(summary, indent=1))
    return path


def render_png(python: Path) -> None:
    """Draw summary.png in the benchmark venv (which has matplotlib)."""
    subprocess.run([str(python), "-m", "bench.report", "--png"], cwd=ROOT, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"})


def _png(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = chart_index(summary)
    if not idx:
        print("no chart figures in this run: summary.png not drawn")
        return
    sizes = sorted({n for _, n in idx})
    measures = [m for m in CHART_MEASURES if m[0] in ("first_paint_live_edge_ms", "first_paint_zoomed_out_ms",
                                                      "live_update.median_ms", "append.median_ms",
                                                      "pan_zoomed_out_fps", "rss_mb")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    colors = {"tickerwire": "#26a69a", "finplot": "#5c6bc0", "qpicture": "#ef5350"}
    width = 0.27
    for ax, (key, label, unit, higher) in zip(axes.flat, measures):
        for j, impl in enumerate(IMPLS):
            # Only what was measured: a missing figure is no bar (a 0 has no place on a log scale).
            measured = [(i, v) for i, n in enumerate(sizes) if (v := _get(idx.get((impl, n)), key))]
            if not measured:
                continue
            xs = [i + (j - 1) * width for i, _ in measured]
            vals = [v for _, v in measured]
            bars = ax.bar(xs, vals, width, label=LABELS[impl], color=colors[impl])
            ax.bar_label(bars, labels=[_fmt(v, 1) for v in vals], fontsize=7, rotation=90, padding=2)
        ax.set_xticks(range(len(sizes)), [f"{n:,}" for n in sizes])
        ax.set_title(f"{label} ({unit}) — {'higher' if higher else 'lower'} is better", fontsize=10)
        if key != "rss_mb":
            ax.set_yscale("log")
        ax.margins(y=0.35)
    axes.flat[0].legend(fontsize=8)
    m = summary["machine"]
    fig.suptitle(f"Chart with N one-minute candles (x axis) — {m['cpu']}, {m['cores']} cores, "
                 f"load average {summary['load_average_start'][0]} at start", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", action="store_true", help="draw summary.png (needs matplotlib: the bench venv)")
    args = parser.parse_args(argv)
    summary = json.loads((RESULTS / "summary.json").read_text())
    if args.png:
        _png(summary, RESULTS / "summary.png")
    else:
        print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
