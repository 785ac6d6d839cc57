"""Alerts in the GUI: the Alerts tab (log + rule editor), alert lines, and desktop notifications.

The log keeps the newest alert first by event time, whatever order batches arrive in, and says
each alert once: ``Nov 28 09:35  NFLX  +2.50% in 5 min (228.81 → 234.54)``. Clicking one emits
``alert_selected`` (the window jumps the chart to it). While nothing has fired, the tab says what
will fire and where to change it.
"""

from __future__ import annotations

import bisect
from datetime import datetime, tzinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QLabel, QListWidget, QListWidgetItem, QSplitter, QStackedWidget, QSystemTrayIcon, QVBoxLayout, QWidget,
)

from app.alert_editor import AlertRuleEditor
from app.text import rich_tooltip
from backend.settings import Settings
from backend.signals.alerts import Alert

MAX_LOG = 1000
ALERT_ROLE = Qt.ItemDataRole.UserRole


def alert_text(alert: Alert) -> str:
    """What happened, without the symbol (shown in its own column); the engine's messages start with it
    (``"NFLX +2.04% …"``, ``"AAPL: headline"``) for the tray, where it is needed."""
    for prefix in (f"{alert.symbol}: ", f"{alert.symbol} "):
        if alert.message.startswith(prefix):
            return alert.message[len(prefix):]
    return alert.message


class AlertLog(QListWidget):
    """Newest first; each line says when, which symbol and what happened; the rule is in the tooltip."""

    alert_selected = Signal(object)  # Alert

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.setAlternatingRowColors(True)
        self.itemClicked.connect(lambda item: self.alert_selected.emit(item.data(ALERT_ROLE)))

    def add_alerts(self, alerts: list[Alert]) -> None:
        for alert in sorted(alerts, key=lambda a: a.at_ms):
            when = datetime.fromtimestamp(alert.at_ms / 1000, tz=self.tz).strftime("%b %d %H:%M")
            extra = f" (+{alert.suppressed} held back by the cool-down)" if alert.suppressed else ""
            item = QListWidgetItem(f"{when}  {alert.symbol:<6} {alert_text(alert)}{extra}")
            item.setToolTip(rich_tooltip(f"{alert.rule.describe()}\nClick to see it on the chart."))
            item.setData(ALERT_ROLE, alert)
            self.insertItem(self._row_for(alert.at_ms), item)
        while self.count() > MAX_LOG:
            self.takeItem(self.count() - 1)

    def retain(self, symbols: set[str]) -> None:
        """Drop the alerts of symbols no longer watched."""
        for row in range(self.count() - 1, -1, -1):
            if self.item(row).data(ALERT_ROLE).symbol not in symbols:
                self.takeItem(row)

    def alerts(self) -> list[Alert]:
        return [self.item(i).data(ALERT_ROLE) for i in range(self.count())]

    def _row_for(self, at_ms: int) -> int:
        """Where an alert goes: after every newer one, before older and equal ones (newest first)."""
        keys = [-self.item(i).data(ALERT_ROLE).at_ms for i in range(self.count())]
        return bisect.bisect_left(keys, -at_ms)


class AlertsTab(QWidget):
    """The Alerts tab: the log (or, while empty, what will fire) above the rule editor."""

    def __init__(self, tz: tzinfo, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = AlertLog(tz)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #8a8f98; padding: 24px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.log)
        self.editor = AlertRuleEditor(settings)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.stack)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.log.model().rowsInserted.connect(self._update_empty)
        self.log.model().rowsRemoved.connect(self._update_empty)
        self.editor.rules_applied.connect(self._update_empty)
        self._settings = settings
        self._update_empty()

    def _update_empty(self, *_) -> None:
        if self.log.count():
            self.stack.setCurrentWidget(self.log)
            return
        rules = self.editor.saved_rules()
        listed = "".join(f"\n• {r.describe()}" for r in rules) or "\n(no rules: add one below)"
        enabled = self._settings.get("alerts_enabled")
        self.empty.setText("No alerts yet. An alert appears here — newest first, click one to see it on the "
                           "chart" + (" — and as a desktop notification" if enabled else "")
                           + " — when one of these rules matches a watched symbol:" + listed)
        self.stack.setCurrentWidget(self.empty)


class Notifier:
    """Desktop notifications via the system tray where one exists; otherwise the log is the record."""

    def __init__(self, parent: QWidget) -> None:
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            pixmap = QPixmap(32, 32)
            pixmap.fill(QColor(38, 166, 154))
            self.tray = QSystemTrayIcon(QIcon(pixmap), parent)
            self.tray.setToolTip("TickerWire")
            self.tray.show()

    @property
    def available(self) -> bool:
        return self.tray is not None

    def notify(self, alerts: list[Alert]) -> None:
        if self.tray is None or not alerts:
            return
        if len(alerts) == 1:
            self.tray.showMessage(f"TickerWire — {alerts[0].symbol}", alert_text(alerts[0]))
        else:
            self.tray.showMessage(f"TickerWire — {len(alerts)} alerts",
                                  "\n".join(f"{a.symbol}: {alert_text(a)}" for a in alerts[-4:]))
