"""The whole app: time to a visible window, RSS under load, and message-to-pixel latency.

Targets: window visible ≤ 2 s after launch; peak RSS ≤ 350 MB with 20 symbols × 5 days
of 1-minute candles and 2,000 articles; a demo message painted within 50 ms p99 of
entering the pipeline. The Iceberg archive runs in a child process (it loads pyiceberg and
pyarrow); its peak RSS is reported beside the app's. Run: ``python -m bench.bench_app`` (offscreen) or under xvfb-run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import save, summary_ms

SYMBOLS = ["AAPL", "AMZN", "MSFT", "NVDA", "TSLA", "BRK.B", "GOOGL", "META", "NFLX", "JPM", "F", "TGT", "DIS",
           "INTC", "AMD", "BA", "WMT", "KO", "XOM", "ORCL"]


def _prefill(home: Path) -> Path:
    """Settings with 20 symbols and 5 demo days, and 2,000 articles in the demo's store; return that store."""
    from backend.model import Article
    from backend.pipeline.runtime import FeedChoice, store_path
    from backend.stores.sqlite import SqliteStore

    (home / "settings.json").write_text(json.dumps({
        "watchlist": [{"symbol": s, "query": s, "sections": ["business"]} for s in SYMBOLS],
        "demo_history_days": 5,
    }))
    path = store_path(FeedChoice("demo"), home)
    store = SqliteStore(path)
    t = int(time.time() * 1000) - 5 * 86_400_000
    store.upsert_articles([Article(f"business/bench/{i}", t + i * 200_000, f"Bench headline {i}", "https://x",
                                   "business", "trail", symbols=frozenset({SYMBOLS[i % 20]})) for i in range(2000)])
    store.close()
    return path


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (started by any of its threads)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def startup_and_rss(seconds: float = 75.0) -> dict:
    """Launch, run past the archive's first append (a minute in), exit; the app's and its children's peak RSS."""
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        path = _prefill(home)
        env = dict(os.environ, TICKERWIRE_HOME=str(home))
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--demo", "--speed", "30", "--exit-after", str(seconds)],
                                env=env, stderr=subprocess.PIPE, text=True)
        peak = children_peak = 0.0
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        while proc.poll() is None:
            peak = max(peak, _rss_mb(proc.pid))
            children_peak = max(children_peak, sum(_rss_mb(c) for c in _children(proc.pid)))
            time.sleep(0.1)
        reader.join(5)
        m = re.search(r"window visible ([0-9.]+) s", "".join(lines))
        visible = float(m.group(1)) if m else None
        from backend.stores.sqlite import SqliteStore
        from backend.model import Timeframe
        store = SqliteStore(path)
        candles = sum(len(store.candles(s, Timeframe.M1)) for s in SYMBOLS)
        articles = len(store.articles())
        store.close()
    return {"window_visible_s": visible, "wall_to_exit_s": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(peak, 1), "archive_process_peak_rss_mb": round(children_peak, 1),
            "one_minute_candles": candles, "articles": articles,
            "targets": {"window_visible_s": 2.0, "peak_rss_mb": 350}}


def message_to_pixel(seconds: float = 20.0, stack=None, symbols: int = 6, speed: float = 5.0) -> dict:
    """Run the real window on the demo feed (``symbols`` × ``speed`` second bars a second) and collect the
    latencies it records: embedded, or on a running stack (a :class:`StackConnection`)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.controller import PipelineController
    from app.main_window import MainWindow
    from backend import gc_policy
    from backend.pipeline.runtime import FeedChoice
    from backend.settings import Settings
    from backend.watchlist import default_watch_item

    gc_policy.apply()  # as the tickerwire command does

    names = (SYMBOLS + [f"Q{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(max(0, symbols - len(SYMBOLS)))])
    names = names[:symbols]
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as d:
        os.environ["TICKERWIRE_HOME"] = d
        settings = Settings(Path(d) / "settings.json")
        settings.set("watchlist", [default_watch_item(s) for s in names])
        settings.set("demo_history_days", 1)
        controller = PipelineController(settings, FeedChoice("demo", speed=speed), stack=stack)
        window = MainWindow(settings, controller)
        controller.start()
        window.resize(1600, 900)
        window.show()
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()  # Qt's own event loop, as in the app
        samples = list(window.latencies_ns)
        window.close()  # stops the pipeline
    # Skip the history burst at start-up: the live edge is what the target is about.
    live = samples[len(samples) // 4:]
    return {"message_to_pixel": summary_ms(live), "mode": "stack" if stack else "embedded",
            "offered_second_bars_per_s": round(symbols * speed), "target_p99_ms": 1500 if stack else 50}


def main() -> None:
    result = {"startup": startup_and_rss(), "latency": message_to_pixel()}
    save("app", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
