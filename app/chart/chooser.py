"""The chart toolbar's indicator chooser: a menu of indicators to tick on and off."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton

from app.chart.indicators import PRESETS, IndicatorSpec


class IndicatorChooser(QToolButton):
    """``changed(keys)`` with the ticked indicators' settings keys (e.g. ``["ema:20", "rsi:14"]``)."""

    changed = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setText("Indicators")
        self.setToolTip("Moving averages, Bollinger bands and RSI over the candles")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._menu = QMenu(self)
        self.setMenu(self._menu)
        self._actions: dict[str, QAction] = {}
        for key in PRESETS:
            self._add(IndicatorSpec.parse(key))

    def _add(self, spec: IndicatorSpec) -> QAction:
        action = QAction(spec.label, self)
        action.setCheckable(True)
        action.setData(spec.key)
        action.toggled.connect(self._emit)
        self._menu.addAction(action)
        self._actions[spec.key] = action
        return action

    def set_selected(self, specs: list[IndicatorSpec]) -> None:
        """Tick exactly ``specs`` (adding menu entries for periods the presets lack) without emitting."""
        wanted = {s.key for s in specs}
        for spec in specs:
            if spec.key not in self._actions:
                self._add(spec)
        for key, action in self._actions.items():
            action.blockSignals(True)
            action.setChecked(key in wanted)
            action.blockSignals(False)
        self._label()

    def selected(self) -> list[str]:
        return [key for key, action in self._actions.items() if action.isChecked()]

    def action(self, key: str) -> QAction:
        return self._actions[key]

    def _emit(self, _checked: bool) -> None:
        self._label()
        self.changed.emit(self.selected())

    def _label(self) -> None:
        count = len(self.selected())
        self.setText(f"Indicators ({count})" if count else "Indicators")
