"""Keyboard habits of trading terminals: type a ticker anywhere to jump to it, arrows through the watchlist.

:class:`TypeToJump` gives the window shortcuts: a letter typed while no text field has the
focus opens :class:`SymbolJump` (a small box over the chart) with that letter in it; Enter shows
the symbol (a unique prefix of a watched symbol is enough), and offers to add a valid ticker that
is not on the watchlist (Enter again adds it). Escape closes it. Up/Down step through the watchlist
from anywhere but a list or a text field (which use the arrows themselves).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QAbstractSpinBox, QApplication, QComboBox, QFrame, QLabel, QLineEdit, QPlainTextEdit,
    QTextEdit, QVBoxLayout, QWidget,
)

from backend.model import validate_ticker

TEXT_INPUTS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)


class SymbolJump(QFrame):
    """The type-to-jump box: ``chosen(symbol)`` for a watched symbol, ``add_requested(symbol)`` for a new one."""

    chosen = Signal(str)
    add_requested = Signal(str)

    def __init__(self, symbols: Callable[[], list[str]], parent: QWidget) -> None:
        super().__init__(parent)
        self._symbols = symbols
        self._offer = ""  # the ticker a second Enter adds
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Ticker")
        self.edit.setMaxLength(16)
        self.edit.textEdited.connect(self._on_edited)
        self.edit.installEventFilter(self)
        self.hint = QLabel("")
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setStyleSheet("color: #8a8f98;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(QLabel("Go to symbol"))
        layout.addWidget(self.edit)
        layout.addWidget(self.hint)
        self.setFixedWidth(300)
        self.hide()

    def start(self, text: str, at: QPoint) -> None:
        """Open at ``at`` (parent coordinates) with ``text`` typed."""
        self.edit.setText(text.upper())
        self._on_edited(self.edit.text())
        self.adjustSize()
        self.move(at)
        self.show()
        self.raise_()
        self.edit.setFocus()

    def close_box(self) -> None:
        self.hide()
        self._offer = ""
        if self.parentWidget() is not None:
            self.parentWidget().setFocus()

    def matches(self, text: str) -> list[str]:
        text = text.strip().upper()
        symbols = self._symbols()
        if text in symbols:
            return [text]
        return [s for s in symbols if s.startswith(text)] if text else []

    def _on_edited(self, text: str) -> None:
        self._offer = ""
        if text != text.upper():
            position = self.edit.cursorPosition()
            self.edit.setText(text.upper())
            self.edit.setCursorPosition(position)
        found = self.matches(text)
        if len(found) == 1:
            self.hint.setText(f"Enter: show {found[0]}")
        elif found:
            self.hint.setText("Watched: " + ", ".join(found[:8]) + ("…" if len(found) > 8 else ""))
        else:
            self.hint.setText("Not on the watchlist" if text.strip() else "Type a ticker, e.g. AAPL")

    def _enter(self) -> None:
        text = self.edit.text().strip().upper()
        found = self.matches(text)
        if len(found) == 1:
            self.close_box()
            self.chosen.emit(found[0])
            return
        if len(found) > 1:
            self.hint.setText(f"{len(found)} watched symbols start with {text}: type more")
            return
        try:
            symbol = validate_ticker(text)
        except ValueError as exc:
            self.hint.setText(str(exc))
            return
        if self._offer == symbol:
            self.close_box()
            self.add_requested.emit(symbol)
            return
        self._offer = symbol
        self.hint.setText(f"{symbol} is not on the watchlist — Enter again to add it")

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._enter()
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.close_box()
                return True
        if watched is self.edit and event.type() == QEvent.Type.FocusOut and self.isVisible():
            self.hide()
        return False


class TypeToJump(QObject):
    """Window shortcuts: letters open the jump box, Up/Down step the watchlist.

    Shortcuts, not an application-wide event filter: a text field keeps its letters (it claims them as a
    shortcut override), nothing runs in Python for the window's other events, and nothing is left behind
    when the window goes (a Python filter on the application also saw events of objects being destroyed).
    """

    def __init__(self, window: QWidget, jump: SymbolJump, step: Callable[[int], None],
                 anchor: Callable[[], QPoint]) -> None:
        super().__init__(window)
        self._jump, self._step, self._anchor = jump, step, anchor
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            for sequence in (letter, f"Shift+{letter}"):
                shortcut = QShortcut(QKeySequence(sequence), window)
                shortcut.activated.connect(lambda letter=letter: self._jump.start(letter, self._anchor()))
        for key, delta in ((Qt.Key.Key_Up, -1), (Qt.Key.Key_Down, 1)):
            shortcut = QShortcut(QKeySequence(key), window)
            shortcut.activated.connect(lambda key=key, delta=delta: self._arrow(key, delta))

    def _arrow(self, key: Qt.Key, delta: int) -> None:
        """Up/Down step the watchlist, unless a list or a field has the focus: it gets its arrow back."""
        focus = QApplication.focusWidget()
        if isinstance(focus, (QAbstractItemView, QComboBox, *TEXT_INPUTS)):
            QApplication.sendEvent(focus, QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier))
            return
        self._step(delta)
