"""Keyboard habits: type a ticker anywhere to jump to it, Up/Down through the watchlist, Ctrl+, for settings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.settings_dialog import SettingsDialog


def type_keys(qtbot, text: str) -> None:
    """Each key to whichever widget has the focus at that moment, as a keyboard does."""
    for ch in text:
        qtbot.keyClick(QApplication.focusWidget(), ch)


def focus_chart(window, qtbot):
    window.activateWindow()
    qtbot.mouseClick(window.chart.graphics.viewport(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None
                    and QApplication.focusWidget().window() is window, timeout=3_000)


def test_typing_a_ticker_on_the_chart_jumps_to_it(make_window, qtbot):
    w = make_window(("AAPL", "AMZN", "MSFT"))
    focus_chart(w, qtbot)
    type_keys(qtbot, "ms")
    assert w.jump.isVisible() and w.jump.edit.text() == "MS"
    assert "MSFT" in w.jump.hint.text()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.chart.symbol == "MSFT" and not w.chart.loading, timeout=20_000)
    assert not w.jump.isVisible()
    # From the watchlist table too: its own letter search does not get the keys.
    w.watchlist.setFocus()
    type_keys(qtbot, "a")
    assert w.jump.isVisible()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert not w.jump.isVisible() and w.chart.symbol == "MSFT"


def test_a_ticker_not_on_the_watchlist_is_added_on_a_second_enter(make_window, qtbot):
    w = make_window(("AAPL", "AMZN"))
    focus_chart(w, qtbot)
    type_keys(qtbot, "nflx")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert w.jump.isVisible() and "Enter again to add" in w.jump.hint.text()
    assert [i.symbol for i in w.settings.watchlist] == ["AAPL", "AMZN"]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert [i.symbol for i in w.settings.watchlist] == ["AAPL", "AMZN", "NFLX"]
    qtbot.waitUntil(lambda: w.chart.symbol == "NFLX" and w.chart.data.n > 100, timeout=30_000)


def test_a_text_field_keeps_its_letters(main_window, qtbot):
    w = main_window
    w.tabs.setCurrentWidget(w.alerts_tab)
    symbols = w.alerts_tab.editor.table.cellWidget(0, 4)
    symbols.setFocus()
    type_keys(qtbot, "tsla")
    assert not w.jump.isVisible() and symbols.text().lower() == "tsla"


def test_up_and_down_step_through_the_watchlist(make_window, qtbot):
    w = make_window(("AAPL", "AMZN", "MSFT"))
    focus_chart(w, qtbot)
    for key, expected in ((Qt.Key.Key_Down, "AMZN"), (Qt.Key.Key_Down, "MSFT"), (Qt.Key.Key_Down, "AAPL"),
                          (Qt.Key.Key_Up, "MSFT")):
        qtbot.keyClick(QApplication.focusWidget(), key)
        qtbot.waitUntil(lambda: w.chart.symbol == expected, timeout=10_000)
        selected = [w.watchlist.model_.symbols()[i.row()] for i in w.watchlist.selectionModel().selectedRows()]
        assert selected == [expected]


def test_left_right_pan_and_end_returns_to_the_live_edge(main_window, qtbot):
    w = main_window
    focus_chart(w, qtbot)
    (x0, _), _ = w.chart.price.vb.viewRange()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Left)
    (y0, _), _ = w.chart.price.vb.viewRange()
    assert y0 < x0 and not w.chart.following and w.live_button.isVisible()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_End)
    assert w.chart.following


def test_ctrl_comma_opens_the_settings(main_window, qtbot):
    w = main_window
    focus_chart(w, qtbot)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in w.findChildren(SettingsDialog)), timeout=3_000)
    dialog = next(d for d in w.findChildren(SettingsDialog) if d.isVisible())
    qtbot.waitUntil(dialog.new_symbol.hasFocus, timeout=3_000)  # typing adds tickers straight away
    dialog.reject()
