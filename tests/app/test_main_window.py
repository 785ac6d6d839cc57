"""The desktop app as a user drives it: launch, settings, news markers, the ticker."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QDialog

from app.settings_dialog import SettingsDialog


def _click_chart_at(qtbot, window, x, y):
    chart = window.chart
    scene_pos = chart.price.vb.mapViewToScene(QPointF(x, y))
    view_pos = chart.graphics.mapFromScene(scene_pos)
    qtbot.mouseClick(chart.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)


def test_launch_shows_candles_volume_news_and_watchlist_figures(main_window, qtbot):
    w = main_window
    assert w.chart.symbol == "AAPL"
    d = w.chart.data
    assert (d.high[:d.n] >= d.low[:d.n]).all()
    model = w.watchlist.model_
    qtbot.waitUntil(lambda: model.data(model.index(0, 1)) not in ("—", None), timeout=10_000)
    assert model.data(model.index(0, 0)) == "AAPL"
    assert model.data(model.index(0, 2)).endswith("%")
    assert "Demo market" in w.indicators.text("Demo market")


def test_live_candles_reach_the_chart(main_window, qtbot):
    chart = main_window.chart
    first_last = chart.data.start[chart.data.n - 1]
    qtbot.waitUntil(lambda: chart.data.start[chart.data.n - 1] > first_last, timeout=20_000)
    assert chart.following


def test_add_symbol_in_settings_then_see_its_candles(main_window, qtbot):
    w = main_window
    dialog = w.open_settings()
    qtbot.keyClicks(dialog.new_symbol, "nflx")
    assert dialog.add_symbol()
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert [i.symbol for i in w.settings.watchlist] == ["AAPL", "AMZN", "NFLX"]
    assert w.watchlist.model_.symbols() == ["AAPL", "AMZN", "NFLX"]
    w.watchlist.select_symbol("NFLX")
    qtbot.waitUntil(lambda: w.chart.symbol == "NFLX" and w.chart.data.n > 300, timeout=30_000)
    assert w.symbol_label.text() == "NFLX"


def test_click_news_marker_opens_details(main_window, qtbot):
    w = main_window
    qtbot.waitUntil(lambda: len(w.chart.markers.points()) > 0, timeout=20_000)
    spot = w.chart.markers.points()[-1]
    article_id = spot.data()
    w.chart.show_article(article_id)  # make sure the marker is on screen
    qtbot.wait(50)
    pos = w.chart.marker_position(article_id)
    with qtbot.waitSignal(w.chart.article_clicked, timeout=5_000) as clicked:
        _click_chart_at(qtbot, w, *pos)
    assert clicked.args[0].id == article_id
    assert w.details.headline.text() == clicked.args[0].title
    assert w.details.open_button.isEnabled()


def test_click_ticker_item_selects_symbol_and_scrolls_chart(main_window, qtbot):
    w = main_window
    other = next((a for a in w.ticker.articles() if "AMZN" in a.symbols), None)
    qtbot.waitUntil(lambda: any("AMZN" in a.symbols for a in w.ticker.articles()), timeout=30_000)
    other = next(a for a in w.ticker.articles() if "AMZN" in a.symbols)
    item = w.ticker.item_for(other.id)
    w.ticker.scrollToItem(item)
    rect = w.ticker.visualItemRect(item)
    qtbot.mouseClick(w.ticker.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.chart.symbol == "AMZN" and w.chart.news.highlighted == other.id, timeout=20_000)
    x, _ = w.chart.marker_position(other.id)
    (x0, x1), _ = w.chart.price.vb.viewRange()
    assert x0 <= x <= x1
    assert not w.chart.following and w.live_button.isVisible()
    assert w.details.headline.text() == other.title
    w.live_button.click()
    assert w.chart.following


def test_bad_input_in_settings_gets_a_message_and_changes_nothing(main_window, qtbot):
    w = main_window
    before = list(w.settings.watchlist)
    dialog = SettingsDialog(w.settings, w)
    qtbot.addWidget(dialog)
    for text, message in (("BRK..B", "not valid"), ("AAPL", "already"), ("X" * 40, "longer than"), ("", "empty")):
        dialog.new_symbol.setText(text)
        assert not dialog.add_symbol()
        assert message in dialog.error.text()
    dialog.table.item(1, 0).setText("AA PL")  # edit a row into nonsense
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted and "line 2" in dialog.error.text()
    assert w.settings.watchlist == before
    dialog.table.item(1, 0).setText("AMZN")
    dialog.polygon_key.setText("has spaces in it")
    dialog.accept()
    assert "does not look like an API key" in dialog.error.text()
    assert w.settings.watchlist == before


def test_news_impact_table_markers_and_alerts(main_window, qtbot):
    w = main_window
    model = w.impact_table.model_
    qtbot.waitUntil(lambda: any(model.impact_at(r).headline is not None for r in range(model.rowCount())),
                    timeout=30_000)
    # Markers of articles with a measured move are coloured by its sign.
    def measured_on_chart():
        spots = {s.data(): s for s in w.chart.markers.points()}
        return [(model.impact_at(r), spots[model.impact_at(r).article_id]) for r in range(model.rowCount())
                if model.impact_at(r).symbol == w.chart.symbol and model.impact_at(r).headline is not None
                and model.impact_at(r).headline.return_pct is not None and model.impact_at(r).article_id in spots]

    qtbot.waitUntil(lambda: bool(measured_on_chart()), timeout=30_000)
    for impact, spot in measured_on_chart():
        expected = (38, 166, 154) if impact.headline.return_pct >= 0 else (239, 83, 80)
        assert spot.brush().color().getRgb()[:3] == expected
    # The table sorts by a window's return.
    column = 3 + 2  # +15m
    w.impact_table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    values = [w.impact_table.proxy.index(r, column).data(Qt.ItemDataRole.UserRole + 2)
              for r in range(w.impact_table.proxy.rowCount())]
    assert values == sorted(values, reverse=True)
    # A click on a row shows the article and its impact figures in the details panel.
    w.impact_table.impact_selected.emit(model.impact_at(0))
    qtbot.waitUntil(lambda: "return" in w.details.impact.text(), timeout=10_000)
    # The demo's news fires "new article" alerts into the log.
    qtbot.waitUntil(lambda: w.alert_log.count() > 0, timeout=60_000)
    assert any(a.rule.kind == "new_article" for a in w.alert_log.alerts())


def test_a_setting_the_pipeline_was_built_from_rebuilds_it_live(main_window, qtbot):
    """Changing the demo's seed (declared ``applies="rebuild"``) rebuilds the running pipeline with it; the
    window reloads from the new one, without a restart."""
    w = main_window
    old = w.controller.pipeline
    with qtbot.waitSignal(w.controller.switched, timeout=60_000):
        w.settings.set("demo_seed", 12345)
    assert w.controller.pipeline is not old and w.controller.mode == "embedded"
    qtbot.waitUntil(lambda: w.chart.symbol == "AAPL" and w.chart.data.n > 0, timeout=30_000)
