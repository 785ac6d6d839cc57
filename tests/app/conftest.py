"""GUI fixtures: the real main window on the real embedded pipeline, fed by the deterministic demo."""

from __future__ import annotations

import pytest

from helpers import embedded_pipeline

from app.controller import PipelineController
from app.main_window import MainWindow
from backend.pipeline.runtime import FeedChoice
from backend.settings import Settings
from backend.sources.demo import SyntheticSource, demo_start_ms
from backend.watchlist import default_watch_item

DEMO_START = demo_start_ms(1764345600000)  # a fixed instant (Fri 2025-11-28 16:00 UTC) → fixed data


@pytest.fixture
def main_window(qtbot, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    settings.set("watchlist", [default_watch_item(s) for s in ("AAPL", "AMZN")])
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", settings.watchlist,
                                 lambda items: [SyntheticSource(items, seed=11, speed=50, history_days=1,
                                                                start_ms=DEMO_START)])
    window = MainWindow(settings, PipelineController(settings, FeedChoice("demo", speed=50), pipeline))
    qtbot.addWidget(window)
    pipeline.start()
    window.resize(1400, 860)
    window.show()
    qtbot.waitUntil(lambda: window.chart.data.n > 300 and window.ticker.count() > 0, timeout=30_000)
    yield window
    window.close()
    pipeline.stop()
