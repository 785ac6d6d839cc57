"""A symbol removed from the watchlist leaves the window (issue 17, bug 2): ticker, impact rows, chart, alerts."""

from __future__ import annotations

from PySide6.QtCore import Qt

from backend.pipeline import PipelineUpdate
from backend.settings import Settings
from backend.signals.alerts import Alert, AlertRule, RuleKind
from backend.watchlist import default_watch_item


def _remove_amzn(window, qtbot):
    qtbot.waitUntil(lambda: any("AMZN" in a.symbols for a in window.ticker.articles()), timeout=30_000)
    window.settings.set("watchlist", [default_watch_item("AAPL")])
    qtbot.wait(50)


def test_removed_symbol_leaves_the_news_ticker(main_window, qtbot):
    w = main_window
    _remove_amzn(w, qtbot)
    assert w.ticker.count() > 0
    assert all("AAPL" in a.symbols for a in w.ticker.articles()), "AMZN-only articles stayed in the ticker"


def test_an_article_of_a_removed_symbol_does_not_load_a_frozen_chart(main_window, qtbot):
    w = main_window
    qtbot.waitUntil(lambda: any(a.symbols == {"AMZN"} for a in w.ticker.articles()), timeout=30_000)
    amzn_only = next(a for a in w.ticker.articles() if a.symbols == {"AMZN"})
    w.settings.set("watchlist", [default_watch_item("AAPL")])
    w.show_article(amzn_only)  # what a click on a lingering ticker item or impact row did
    qtbot.wait(300)
    assert w.chart.symbol == "AAPL", "the chart switched to a symbol that is no longer watched"
    selected = w.watchlist.selectionModel().selectedRows()
    assert [w.watchlist.model_.symbols()[i.row()] for i in selected] == [w.chart.symbol]


def test_alerts_for_a_removed_symbol_are_not_shown(main_window, qtbot):
    w = main_window
    w.settings.set("watchlist", [default_watch_item("AAPL")])
    rule = AlertRule(RuleKind.NEW_ARTICLE)
    stale = Alert(rule, "AMZN", "AMZN: Amazon chief executive to step down", 1764345600000, "a1")
    fresh = Alert(rule, "AAPL", "AAPL: Apple wins major contract", 1764345660000, "a2")
    w.bridge.updated.emit(PipelineUpdate(alerts=[stale, fresh]))
    assert [a.symbol for a in w.alert_log.alerts()] == ["AAPL"]


def test_impact_rows_after_a_restart_with_fewer_symbols_are_watched_titled_and_clickable(make_window, qtbot,
                                                                                            tmp_path):
    """Restart on the same store with AMZN removed: its stored impacts must not show as raw ids."""
    window = make_window(("AAPL", "AMZN"), wait=False)
    model = window.impact_table.model_
    qtbot.waitUntil(lambda: {model.impact_at(r).symbol for r in range(model.rowCount())} >= {"AAPL", "AMZN"},
                    timeout=30_000)
    settings = window.settings
    window.close()
    window.bridge.pipeline.stop()

    settings = Settings(settings.path)  # a new process reads the same file
    settings.set("watchlist", [default_watch_item("AAPL")])
    window = make_window(settings=settings, wait=False)
    table = window.impact_table
    qtbot.waitUntil(lambda: table.model().rowCount() > 0, timeout=30_000)
    qtbot.wait(500)  # titles load after the impacts
    rows = range(table.model().rowCount())
    symbols = {table.model().index(r, 1).data() for r in rows}
    assert symbols == {"AAPL"}, f"impact rows of unwatched symbols are shown: {symbols}"
    impacts = [table.model_.impact_at(table.proxy.mapToSource(table.proxy.index(r, 0)).row()) for r in rows]
    assert all(table.model().index(r, 2).data() != i.article_id for r, i in zip(rows, impacts)), \
        "headline cells show raw article ids"
    index = table.model().index(0, 2)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center())
    qtbot.waitUntil(lambda: window.details.article is not None, timeout=10_000)
    assert window.details.article.id == impacts[0].article_id
