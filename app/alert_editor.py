"""The alert-rule editor in the Alerts tab: the ``alert_rules`` setting as a table of rules.

One row per rule: what it watches (price move %, volume z-score, a new article on the symbol,
an article's impact %), its threshold, the window in minutes, the cool-down and the symbols it
is limited to. *Apply* validates every row with the alert engine's own rules and saves them all,
or changes nothing and names the bad row and field.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QPushButton, QSizePolicy, QSpinBox, QTableWidget, QVBoxLayout,
)

from backend.settings import Settings, SettingsError
from backend.signals.alerts import MAX_COOLDOWN_S, MAX_PERCENT, SESSION_MINUTES, AlertRule, RuleKind, \
    rules_from_settings
from backend.signals.impact import WINDOW_MINUTES

KINDS = (
    (RuleKind.PRICE_MOVE, "Price move ≥ %", "The price moved at least this many percent within the window"),
    (RuleKind.VOLUME_Z, "Volume z-score ≥", "The window's volume is this many standard deviations above the "
                                            "usual volume at this time of day"),
    (RuleKind.NEW_ARTICLE, "New article", "A new article about the symbol arrived"),
    (RuleKind.IMPACT, "Article impact ≥ %", "An article's return at +N minutes reached this many percent "
                                            f"(N one of {', '.join(map(str, WINDOW_MINUTES))})"),
)
COLUMNS = ("Alert when", "Threshold", "Within (min)", "Cool-down (s)", "Only symbols (blank: all)")
_SPLIT = re.compile(r"[\s,;]+")


class AlertRuleEditor(QGroupBox):
    """Edits the ``alert_rules`` setting; ``rules_applied`` after a successful Apply."""

    rules_applied = Signal()

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__("Alert rules", parent)
        self.settings = settings
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.add_button = QPushButton("Add rule")
        self.remove_button = QPushButton("Remove")
        self.revert_button = QPushButton("Revert")
        self.apply_button = QPushButton("Apply")
        self.add_button.clicked.connect(lambda: self._append(AlertRule(RuleKind.PRICE_MOVE, 2.0, 5, 900)))
        self.remove_button.clicked.connect(self._remove_selected)
        self.revert_button.clicked.connect(self.load)
        self.apply_button.clicked.connect(self.apply)
        self.message = QLabel("")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.message.setFixedHeight(self.message.fontMetrics().lineSpacing() * 2 + 4)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.revert_button, self.apply_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        settings.on_change(self._on_setting_changed)
        self.load()

    # -- rows -------------------------------------------------------------------------------------

    def saved_rules(self) -> list[AlertRule]:
        return rules_from_settings(self.settings.get("alert_rules"))

    def load(self) -> None:
        """Show the saved rules (and forget unapplied edits)."""
        self.table.setRowCount(0)
        for rule in self.saved_rules():
            self._append(rule, dirty=False)
        self._set_dirty(False)
        self._say("")

    def rows(self) -> list[dict]:
        """The table as the setting's list of dicts (not yet validated)."""
        out = []
        for r in range(self.table.rowCount()):
            kind, threshold, minutes, cooldown, symbols = (self.table.cellWidget(r, c) for c in range(len(COLUMNS)))
            out.append({"kind": kind.currentData(), "threshold": threshold.value(), "minutes": minutes.value(),
                        "cooldown_s": cooldown.value(),
                        "symbols": [s for s in _SPLIT.split(symbols.text().strip().upper()) if s]})
        return out

    def apply(self) -> bool:
        """Validate and save every rule; on a bad one change nothing and say which and why."""
        try:
            self.settings.set("alert_rules", self.rows())
        except SettingsError as exc:
            self._say(f"Not saved — {exc}", error=True)
            return False
        self._set_dirty(False)
        count = self.table.rowCount()
        self._say(f"Saved {count} rule{'s' if count != 1 else ''}; they apply from the next candle.")
        self.rules_applied.emit()
        return True

    def _append(self, rule: AlertRule, dirty: bool = True) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        kind = QComboBox()
        for value, label, tip in KINDS:
            kind.addItem(label, value.value)
            kind.setItemData(kind.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        threshold = QDoubleSpinBox()
        threshold.setDecimals(2)
        threshold.setSingleStep(0.5)
        minutes = QSpinBox()
        cooldown = QSpinBox()
        cooldown.setRange(0, MAX_COOLDOWN_S)
        cooldown.setSingleStep(60)
        cooldown.setToolTip("After firing for a symbol the rule stays quiet for it this long")
        symbols = QLineEdit(", ".join(sorted(rule.symbols)))
        symbols.setPlaceholderText("all watched symbols")
        for c, w in enumerate((kind, threshold, minutes, cooldown, symbols)):
            self.table.setCellWidget(r, c, w)
        kind.currentIndexChanged.connect(lambda _i, k=kind, t=threshold, m=minutes: self._fit_kind(k, t, m))
        kind.setCurrentIndex(kind.findData(rule.kind.value))
        self._fit_kind(kind, threshold, minutes)
        threshold.setValue(rule.threshold)
        minutes.setValue(rule.minutes)
        cooldown.setValue(rule.cooldown_s)
        for signal in (kind.currentIndexChanged, threshold.valueChanged, minutes.valueChanged,
                       cooldown.valueChanged, symbols.textEdited):
            signal.connect(lambda *_: self._set_dirty(True))
        if dirty:
            self._set_dirty(True)

    @staticmethod
    def _fit_kind(kind: QComboBox, threshold: QDoubleSpinBox, minutes: QSpinBox) -> None:
        """Ranges and enabled fields for the chosen kind (a new-article rule has neither)."""
        value = RuleKind(kind.currentData())
        threshold.setEnabled(value is not RuleKind.NEW_ARTICLE)
        minutes.setEnabled(value is not RuleKind.NEW_ARTICLE)
        if value is RuleKind.NEW_ARTICLE:
            threshold.setRange(0, 0)
            minutes.setRange(0, 0)
            return
        threshold.setRange(0.0, MAX_PERCENT)
        minutes.setRange(1, {RuleKind.PRICE_MOVE: SESSION_MINUTES, RuleKind.VOLUME_Z: 60}.get(value, 60))
        if threshold.value() == 0:  # coming from a new-article row: a sensible start
            threshold.setValue({RuleKind.PRICE_MOVE: 2.0, RuleKind.VOLUME_Z: 4.0}.get(value, 1.5))
            minutes.setValue({RuleKind.IMPACT: 15}.get(value, 5))
        minutes.setToolTip(f"One of {', '.join(map(str, WINDOW_MINUTES))}" if value is RuleKind.IMPACT
                           else "The window the figure is measured over")

    def _remove_selected(self) -> None:
        for r in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(r)
        self._set_dirty(True)

    def _set_dirty(self, dirty: bool) -> None:
        self.apply_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        if dirty:
            self._say("Unsaved changes: Apply saves them, Revert drops them.")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.setStyleSheet("color: #ef5350; font-weight: bold;" if error else "color: #8a8f98;")

    def _on_setting_changed(self, name: str, _value) -> None:
        if name == "alert_rules" and not self.apply_button.isEnabled():
            self.load()
