"""The Alerts tab's rule editor and alert clicks: rules edited and saved with reasons, the chart jumps."""

from __future__ import annotations

from PySide6.QtCore import Qt

from backend.model import MINUTE_MS
from backend.signals.alerts import Alert, AlertRule, RuleKind, rules_from_settings


def editor_of(window):
    window.tabs.setCurrentWidget(window.alerts_tab)
    return window.alerts_tab.editor


def test_rules_are_edited_and_saved_for_the_running_pipeline(main_window, qtbot):
    w = main_window
    editor = editor_of(w)
    before = rules_from_settings(w.settings.get("alert_rules"))
    assert editor.table.rowCount() == len(before)
    assert not editor.apply_button.isEnabled()
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    row = editor.table.rowCount() - 1
    kind, threshold, minutes, cooldown, symbols = (editor.table.cellWidget(row, c) for c in range(5))
    kind.setCurrentIndex(kind.findData("volume_z"))
    threshold.setValue(3.0)
    minutes.setValue(10)
    cooldown.setValue(300)
    symbols.setText("aapl, amzn")
    assert editor.apply_button.isEnabled() and "Unsaved" in editor.message.text()
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)
    saved = rules_from_settings(w.settings.get("alert_rules"))
    assert saved[-1] == AlertRule(RuleKind.VOLUME_Z, 3.0, 10, 300, frozenset({"AAPL", "AMZN"}))
    assert saved[:-1] == before and "Saved" in editor.message.text()


def test_a_bad_rule_is_named_and_nothing_is_saved(main_window, qtbot):
    w = main_window
    editor = editor_of(w)
    before = w.settings.get("alert_rules")
    impact_row = next(r for r in range(editor.table.rowCount())
                      if editor.table.cellWidget(r, 0).currentData() == "impact")
    editor.table.cellWidget(impact_row, 2).setValue(7)  # impact windows are 1, 5, 15, 60
    editor.table.cellWidget(0, 4).setText("BRK..B")
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)
    assert "Not saved" in editor.message.text() and "alert rule 1" in editor.message.text()
    assert w.settings.get("alert_rules") == before
    editor.table.cellWidget(0, 4).setText("")
    qtbot.mouseClick(editor.apply_button, Qt.MouseButton.LeftButton)
    assert f"alert rule {impact_row + 1}: impact minutes must be one of" in editor.message.text()
    qtbot.mouseClick(editor.revert_button, Qt.MouseButton.LeftButton)
    assert editor.table.cellWidget(impact_row, 2).value() == 15 and not editor.apply_button.isEnabled()


def test_a_new_article_rule_has_no_threshold_or_window(main_window):
    editor = editor_of(main_window)
    row = next(r for r in range(editor.table.rowCount())
               if editor.table.cellWidget(r, 0).currentData() == "new_article")
    assert not editor.table.cellWidget(row, 1).isEnabled() and not editor.table.cellWidget(row, 2).isEnabled()
    editor.table.cellWidget(row, 0).setCurrentIndex(0)  # now a price move: sensible values to start from
    assert editor.table.cellWidget(row, 1).value() > 0 and editor.table.cellWidget(row, 2).value() > 0


def test_clicking_an_alert_jumps_the_chart_to_it(main_window, qtbot):
    w = main_window
    d = w.chart.data
    at = int(d.start[d.n // 3])
    rule = AlertRule(RuleKind.PRICE_MOVE, 2.0, 5)
    w.alert_log.add_alerts([Alert(rule, "AMZN", "AMZN +2.10% in 5 min (230.5 → 235.3405)", at, value=2.1)])
    w.tabs.setCurrentWidget(w.alerts_tab)
    assert w.alerts_tab.stack.currentWidget() is w.alert_log
    item = w.alert_log.item(0)
    qtbot.mouseClick(w.alert_log.viewport(), Qt.MouseButton.LeftButton, pos=w.alert_log.visualItemRect(item).center())
    qtbot.waitUntil(lambda: w.chart.symbol == "AMZN" and not w.chart.loading and w.chart.jump_line.isVisible(),
                    timeout=20_000)
    assert w.tabs.currentIndex() == 0
    x = w.chart.data.index_at(at)
    assert w.chart.jump_line.value() == x
    (x0, x1), _ = w.chart.price.vb.viewRange()
    assert x0 < x < x1 and not w.chart.following
    assert abs(w.chart.data.start[int(x)] - at) < MINUTE_MS
