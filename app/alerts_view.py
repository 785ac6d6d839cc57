"""Alerts in the GUI: the alert log and desktop notifications through the system tray."""

from __future__ import annotations

from datetime import datetime, tzinfo

from PySide6.QtGui import QIcon, QPixmap, QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QSystemTrayIcon, QWidget

from backend.signals.alerts import Alert

MAX_LOG = 1000


class AlertLog(QListWidget):
    """Newest first; each line says when, which symbol, what happened and which rule fired."""

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.setAlternatingRowColors(True)

    def add_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            when = datetime.fromtimestamp(alert.at_ms / 1000, tz=self.tz).strftime("%b %d %H:%M")
            extra = f" (+{alert.suppressed} held back by the cool-down)" if alert.suppressed else ""
            item = QListWidgetItem(f"{when}  {alert.symbol}  {alert.message}{extra}")
            item.setToolTip(alert.rule.describe())
            item.setData(0x0100, alert)
            self.insertItem(0, item)
        while self.count() > MAX_LOG:
            self.takeItem(self.count() - 1)

    def alerts(self) -> list[Alert]:
        return [self.item(i).data(0x0100) for i in range(self.count())]


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
            self.tray.showMessage(f"TickerWire — {alerts[0].symbol}", alerts[0].message)
        else:
            self.tray.showMessage(f"TickerWire — {len(alerts)} alerts",
                                  "\n".join(f"{a.symbol}: {a.message}" for a in alerts[-4:]))
