"""The window in stack mode on the real Docker stack: the candles and the news it shows were made by the
containers (Kafka → the Flink job → the sink → InfluxDB), not by an embedded pipeline.

The window is built as ``tickerwire --pipeline stack --replay DIR`` builds it (the controller on a
:func:`backend.pipeline.runtime.build` stack pipeline for the session's stack), shown at 1600×900 and
grabbed to a PNG (to the test's tmp dir, or ``$TICKERWIRE_STACK_SHOT`` for the README).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from stack_session import session_dir

from backend.model import Timeframe

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@pytest.fixture
def stack_window(running_stack, qtbot, tmp_path, monkeypatch):
    """A main window on the session's stack, fed a replayed session (its sinks run in the window's process)."""
    from app import stack_mode
    from app.controller import PipelineController
    from app.main_window import MainWindow
    from backend.pipeline.runtime import FeedChoice
    from backend.settings import Settings
    from backend.watchlist import default_watch_item

    monkeypatch.setenv("TICKERWIRE_HOME", str(tmp_path / "home"))
    session = session_dir(tmp_path, "window-session", ["WNA"], minutes=240, seed=31)

    settings = Settings(tmp_path / "home" / "settings.json")
    settings.set("watchlist", [default_watch_item(s) for s in ("AMZN", "WNA")])
    connection = stack_mode.connection_from(running_stack.access)
    controller = PipelineController(settings, FeedChoice("replay", speed=2000, replay_dir=session), stack=connection)
    window = MainWindow(settings, controller)
    qtbot.addWidget(window)
    controller.start()
    window.resize(1600, 900)
    window.show()
    yield window, connection
    window.close()  # its closeEvent stops the pipeline, as when a user closes the window
    gc.collect()  # Qt objects go on the GUI thread


def test_the_window_shows_candles_and_news_the_containers_made(stack_window, qtbot, tmp_path):
    from backend.stores.influx import InfluxSettings, InfluxStore

    window, connection = stack_window
    assert window.controller.mode == "stack"
    qtbot.waitUntil(lambda: window.ticker.count() > 0, timeout=240_000)
    window.select_symbol("WNA")
    qtbot.waitUntil(lambda: window.chart.symbol == "WNA" and window.chart.data.n >= 60, timeout=240_000)

    # What the chart draws is what the stack's InfluxDB holds (the sink wrote it from the job's candles). The
    # chart's live edge comes straight from the candles topic, so the sink may still be writing the last ones.
    shown = window.chart.data
    starts = [int(t) for t in shown.start[: shown.n - 1]]  # the live candle may still be forming
    store = InfluxStore(InfluxSettings(url=connection.influx_url, token=connection.influx_token,
                                       bucket=connection.influx_bucket, retention_days=None))
    stored: dict = {}

    def all_stored() -> bool:
        stored.update((c.start_ms, c) for c in store.candles("WNA", Timeframe.M1))
        return all(t in stored for t in starts)

    try:
        qtbot.waitUntil(all_stored, timeout=120_000)
    finally:
        store.close()
    assert starts and float(shown.close[0]) == pytest.approx(stored[starts[0]].close)
    assert not list((tmp_path / "home").rglob("store.sqlite")), "stack mode writes no embedded store"

    folder = Path(os.environ.get("TICKERWIRE_STACK_SHOT") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "stack-mode.png"
    assert window.grab().save(str(shot), "PNG") and shot.stat().st_size > 20_000
