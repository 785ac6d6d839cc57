"""The workspace comes back on start: symbol, timeframe, indicators, docks."""

from __future__ import annotations

from PySide6.QtCore import Qt

from backend.settings import Settings


def test_symbol_timeframe_indicators_and_docks_are_restored(make_window, qtbot):
    w = make_window(("AAPL", "AMZN", "MSFT"))
    for key in ("ema:20", "rsi:14"):
        w.indicator_chooser.action(key).trigger()
    index = w.watchlist.model_.index(2, 0)  # MSFT
    qtbot.mouseClick(w.watchlist.viewport(), Qt.MouseButton.LeftButton, pos=w.watchlist.visualRect(index).center())
    w.timeframe.setCurrentIndex(w.timeframe.findData("5m"))
    qtbot.waitUntil(lambda: w.chart.symbol == "MSFT" and w.chart.timeframe == "5m" and not w.chart.loading,
                    timeout=20_000)
    w.news_dock.close()
    path = w.settings.path
    w.close()
    w.controller.pipeline.stop()

    again = make_window(settings=Settings(path), size=None, wait=False)  # a new process reads the same files
    qtbot.waitUntil(lambda: again.chart.symbol == "MSFT" and not again.chart.loading and again.chart.data.n > 0,
                    timeout=30_000)
    assert again.chart.timeframe == "5m" and again.timeframe.currentData() == "5m"
    assert [s.key for s in again.chart.indicator_specs] == ["ema:20", "rsi:14"]
    assert again.indicator_chooser.selected() == ["ema:20", "rsi:14"]
    assert again.chart.rsi in again.chart.graphics.ci.items
    assert again.news_dock.isHidden() and not again.watchlist_dock.isHidden()
    selected = [again.watchlist.model_.symbols()[i.row()] for i in again.watchlist.selectionModel().selectedRows()]
    assert selected == ["MSFT"]


def test_a_removed_symbol_is_not_restored(make_window, qtbot):
    w = make_window(("AAPL", "AMZN"))
    w.watchlist.select_symbol("AMZN")
    qtbot.waitUntil(lambda: w.chart.symbol == "AMZN", timeout=10_000)
    path = w.settings.path
    w.close()
    w.controller.pipeline.stop()
    settings = Settings(path)
    settings.set("watchlist", [i for i in settings.watchlist if i.symbol != "AMZN"])
    again = make_window(settings=settings, wait=False)
    qtbot.waitUntil(lambda: again.chart.symbol == "AAPL" and not again.chart.loading, timeout=20_000)
