"""The window switches from the embedded pipeline to the stack (real Kafka, Flink, influxd) without a restart."""

from __future__ import annotations

import uuid

import pytest

from helpers import embedded_pipeline

from app.controller import PipelineController
from app.main_window import MainWindow
from backend.settings import Settings
from backend.sources.demo import SyntheticSource, demo_start_ms
from backend.watchlist import default_watch_item
from backend.pipeline.runtime import FeedChoice
from stack.backends import Endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900),
              # QtWebEngine (the Grafana tab) reports its software-rendering fallback as warnings.
              pytest.mark.qt_log_ignore(r"Vulkan", r"GPU", r"RHI", r"QRhiGles2", r"OpenGL", r"GBM")]


def test_switch_to_stack_mode_and_back(qtbot, tmp_path, kafka_broker, flink_job, influx_server):
    settings = Settings(tmp_path / "settings.json")
    symbol = "SWA"  # a symbol of its own on the session's shared broker and job
    settings.set("watchlist", [default_watch_item(symbol)])
    start = demo_start_ms(1764345600000)
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", settings.watchlist,
                                 lambda items: [SyntheticSource(items, seed=3, speed=50, history_days=0,
                                                                start_ms=start)])
    window = MainWindow(settings, PipelineController(settings, FeedChoice("demo", speed=50), pipeline))
    qtbot.addWidget(window)
    pipeline.start()
    window.show()
    try:
        qtbot.waitUntil(lambda: window.chart.data.n > 10, timeout=60_000)

        # Without a running stack the switch is refused with a message, and nothing changes.
        window.mode.setCurrentIndex(window.mode.findData("stack"))
        assert "Start the stack first" in window.mode_note.text()
        assert window.bridge.pipeline is pipeline and window.mode.currentData() == "embedded"

        window._on_stack_endpoints(Endpoints(kafka_bootstrap=kafka_broker.bootstrap_servers,
                                             influx_url=influx_server.url,
                                             influx_bucket=f"app_{uuid.uuid4().hex[:8]}/hot"))
        window.mode.setCurrentIndex(window.mode.findData("stack"))
        qtbot.waitUntil(lambda: getattr(window.bridge.pipeline, "mode", "") == "stack", timeout=120_000)
        stack = window.bridge.pipeline
        # The demo now flows through Kafka and the Flink job; the chart fills from the stack's live edge.
        qtbot.waitUntil(lambda: window.chart.symbol == symbol and window.chart.data.n > 5, timeout=300_000)
        # … and the sink writes them to InfluxDB (committing offsets only after the write).
        qtbot.waitUntil(lambda: bool(stack.processor.store.candles(symbol, window.chart.timeframe)), timeout=180_000)
        assert settings.get("mode") == "stack"

        window.mode.setCurrentIndex(window.mode.findData("embedded"))
        qtbot.waitUntil(lambda: getattr(window.bridge.pipeline, "mode", "") == "embedded", timeout=120_000)
    finally:
        # Stop whatever runs (also after a failure: a stray demo stream would load the shared Flink job).
        current = window.bridge.pipeline
        window.close()  # waits for a pipeline that was switched away from to stop
        current.stop()
