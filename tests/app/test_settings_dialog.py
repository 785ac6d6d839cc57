"""Settings dialog as typed into (issue 17, bug 1): Enter adds without closing, errors come and go, nothing shifts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QGroupBox, QPushButton

from app.settings_dialog import SettingsDialog
from backend.settings import Settings
from backend.watchlist import default_watch_item


@pytest.fixture
def dialog(qtbot, tmp_path, memory_keyring):
    settings = Settings(tmp_path / "settings.json")
    settings.set("watchlist", [default_watch_item(s) for s in ("AAPL", "AMZN")])
    d = SettingsDialog(settings)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    d.new_symbol.setFocus()
    return d


def _type_and_enter(qtbot, dialog, text):
    dialog.new_symbol.setFocus()
    qtbot.keyClicks(dialog.new_symbol, text)
    qtbot.keyClick(dialog.new_symbol, Qt.Key.Key_Return)


def test_enter_in_the_ticker_box_adds_the_symbol_and_keeps_the_dialog_open(dialog, qtbot):
    _type_and_enter(qtbot, dialog, "nflx")
    assert dialog.isVisible(), "Enter closed the dialog"
    _type_and_enter(qtbot, dialog, "tsla")
    assert dialog.isVisible()
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == ["AAPL", "AMZN", "NFLX", "TSLA"]
    # Nothing is saved until OK.
    assert [i.symbol for i in dialog.settings.watchlist] == ["AAPL", "AMZN"]
    assert dialog.new_symbol.text() == "" and dialog.new_symbol.hasFocus()


def test_enter_with_an_invalid_ticker_shows_the_error_and_keeps_the_dialog_open(dialog, qtbot):
    _type_and_enter(qtbot, dialog, "brk..b")
    assert dialog.isVisible(), "Enter closed the dialog and the error was never seen"
    assert dialog.error.isVisible() and "not valid" in dialog.error.text()
    assert dialog.new_symbol.text() == "BRK..B" or dialog.new_symbol.text().lower() == "brk..b"  # kept to fix
    assert [i.symbol for i in dialog.settings.watchlist] == ["AAPL", "AMZN"]


def test_the_error_goes_away_once_the_problem_is_fixed(dialog, qtbot):
    _type_and_enter(qtbot, dialog, "brk..b")
    assert "not valid" in dialog.error.text()
    dialog.new_symbol.setFocus()
    qtbot.keyClick(dialog.new_symbol, Qt.Key.Key_Backspace)
    qtbot.keyClick(dialog.new_symbol, Qt.Key.Key_Backspace)
    qtbot.keyClick(dialog.new_symbol, Qt.Key.Key_Backspace)
    qtbot.keyClicks(dialog.new_symbol, ".b")  # now BRK.B
    assert dialog.error.text() == "", "the error stayed after the ticker was corrected"
    # A bad table cell: OK refuses with the line; fixing the cell clears the message.
    dialog.table.item(1, 0).setText("AM ZN")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and "line 2" in dialog.error.text()
    dialog.table.item(1, 0).setText("AMZN")
    assert dialog.error.text() == ""


def test_an_error_line_does_not_move_the_controls(dialog, qtbot):
    dialog.resize(dialog.minimumSizeHint().width() + 10, 560)  # narrow: a long message wraps
    qtbot.wait(20)

    def places():
        widgets = [*dialog.findChildren(QGroupBox), dialog.table, dialog.new_symbol, dialog.findChild(QDialogButtonBox)]
        return [(w.mapTo(dialog, w.rect().topLeft()), w.size()) for w in widgets]

    before = places()
    qtbot.keyClicks(dialog.new_symbol, "brk..b")  # the longest message: what a valid ticker looks like
    add = next(b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == "Add")
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    assert "not valid" in dialog.error.text()
    assert places() == before, "the error line moved the controls"
    dialog.new_symbol.clear()
    dialog.table.item(0, 2).setText("business, " + "x" * 60)  # a message naming a long bad section
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.wait(20)
    assert "line 1" in dialog.error.text() and dialog.width() <= dialog.minimumSizeHint().width() + 10
    assert places() == before, "the error line moved the controls"


def test_every_column_header_fits(dialog):
    header = dialog.table.horizontalHeader()
    metrics = header.fontMetrics()
    for column in range(dialog.table.columnCount()):
        label = dialog.table.horizontalHeaderItem(column).text()
        assert header.sectionSize(column) >= metrics.horizontalAdvance(label) + 8, f"header {label!r} is cut off"
