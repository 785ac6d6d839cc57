"""The Alerts tab (issue 17, bug 7): a hint while empty, newest first across batches, each alert said once
with prices as prices."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtWidgets import QLabel

from app.alerts_view import AlertLog
from backend.model import MINUTE_MS, Candle, Timeframe
from backend.signals.alerts import Alert, AlertEngine, AlertRule, RuleKind
from backend.signals.impact_store import StoreCandleHistory
from backend.stores.sqlite import SqliteStore

NY = ZoneInfo("America/New_York")
OPEN = 1764340200000  # Fri 2025-11-28 09:30 New York


@pytest.fixture
def price_move_alert(tmp_path):
    """A price-move alert raised by the real alert engine on stored candles (a 2.5% climb in 3 minutes)."""
    store = SqliteStore(tmp_path / "store.sqlite")
    engine = AlertEngine([AlertRule(RuleKind.PRICE_MOVE, 2.0, 5, cooldown_s=600)], StoreCandleHistory(store))
    alerts = []
    for k in range(10):
        close = 228.8143 * (1 + 0.025 * min(k, 3) / 3)
        c = Candle("NFLX", Timeframe.M1, OPEN + k * MINUTE_MS, close, close + 0.05, close - 0.05, close, 1000.0,
                   close, 10)
        store.upsert_candles([c])
        alerts += engine.apply([c], [], [], live=True)
    store.close()
    assert alerts
    return alerts[0]


def _alert(symbol: str, at_ms: int) -> Alert:
    return Alert(AlertRule(RuleKind.NEW_ARTICLE), symbol, f"{symbol}: news at {at_ms}", at_ms, f"id-{at_ms}")


def test_the_empty_alerts_tab_explains_itself(main_window):
    w = main_window
    tab = w.tabs.widget(next(i for i in range(w.tabs.count()) if w.tabs.tabText(i) == "Alerts"))
    w.tabs.setCurrentWidget(tab)
    hints = [lb.text() for lb in tab.findChildren(QLabel) if lb.isVisible()]
    assert any("no alerts" in h.lower() for h in hints), f"a blank pane: {hints}"


def test_alerts_are_newest_first_across_batches(qtbot):
    log = AlertLog(NY)
    qtbot.addWidget(log)
    log.add_alerts([_alert("AAPL", OPEN + 3 * MINUTE_MS)])
    log.add_alerts([_alert("AAPL", OPEN + 1 * MINUTE_MS), _alert("MSFT", OPEN + 5 * MINUTE_MS),
                    _alert("AAPL", OPEN + 2 * MINUTE_MS)])
    assert [a.at_ms for a in log.alerts()] == [OPEN + k * MINUTE_MS for k in (5, 3, 2, 1)]


def test_an_alert_names_its_symbol_once_and_shows_prices_with_two_decimals(qtbot, price_move_alert):
    log = AlertLog(NY)
    qtbot.addWidget(log)
    log.add_alerts([price_move_alert])
    text = log.item(0).text()
    assert text.count("NFLX") == 1, text
    assert not re.search(r"\d\.\d{3,}", text), f"prices with more than two decimals: {text}"
    assert re.search(r"228\.81 → 234\.5\d", text), text
