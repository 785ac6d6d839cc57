"""Explanations a trader can see (issue 17, bug 6): reasons for "—", the status tooltip, an empty chart's
placeholder, socket errors in plain words."""

from __future__ import annotations

import time

import pytest
from zoneinfo import ZoneInfo

from PySide6 import QtGui
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QGraphicsTextItem, QLabel, QToolTip

from app.chart.view import ChartView
from backend.model import Article
from backend.signals.impact import NewsImpact, WindowImpact
from backend.sources.base import SourceState, SourceStatus

NY = ZoneInfo("America/New_York")
REASON = "published before the first candle of the day"


def shown_text(widget) -> str:
    """What the visible labels under ``widget`` show, as rendered text (rich text rendered, tags gone)."""
    out = []
    for label in widget.findChildren(QLabel):
        if not label.isVisible():
            continue
        text = label.text()
        if label.textFormat() != Qt.TextFormat.PlainText and QtGui.Qt.mightBeRichText(text):
            doc = QTextDocument()
            doc.setHtml(text)
            text = doc.toPlainText()
        out.append(text)
    return "\n".join(out)


def test_reasons_for_dashes_are_shown_in_the_details_panel(main_window, qtbot):
    w = main_window
    article = Article("x/1", 1764345600000, "Apple news", "https://www.theguardian.com/x/1", "business",
                      symbols=frozenset({"AAPL"}))
    windows = tuple(WindowImpact(m, 1764345600000 + m * 60_000, True, notes=(REASON,)) for m in (1, 5, 15, 60))
    impact = NewsImpact("x/1", "AAPL", 1764345600000, 1764345600000, False, None, None, windows)
    w.details.show_article(article)
    w.details.show_impacts(article.id, [impact])
    qtbot.wait(20)
    text = shown_text(w.details)
    assert "—" in text
    assert REASON in text, "the reason for '—' is only in an HTML title attribute a QLabel never shows"


@pytest.mark.qt_log_ignore("does not support raise")  # the offscreen platform cannot raise the tooltip window
def test_status_tooltip_appears_over_the_status_bar(main_window, qtbot):
    w = main_window
    qtbot.waitUntil(lambda: bool(w.indicators.text("Demo market")), timeout=10_000)
    bar = w.statusBar()
    for pos in (QPoint(40, bar.height() // 2), QPoint(bar.width() // 2, bar.height() // 2)):
        QToolTip.hideText()
        qtbot.mouseMove(bar, pos)
        qtbot.waitUntil(QToolTip.isVisible, timeout=3_000)
        assert "messages" in QToolTip.text() and "/s" in QToolTip.text() and "reconnects" in QToolTip.text()


def test_an_empty_chart_says_it_is_waiting_for_data(qtbot):
    view = ChartView(NY)
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.show()
    qtbot.waitExposed(view)

    def placeholder_visible():
        return any(isinstance(i, QGraphicsTextItem) and "waiting" in i.toPlainText().lower() and i.isVisible()
                   for i in view.graphics.scene().items())

    assert placeholder_visible(), "an empty chart shows nothing at all"
    from test_chart_items import _series  # noqa: PLC0415 (the shared candle builder)

    view.set_series(_series(500), [])
    assert not placeholder_visible()


def test_socket_errors_are_said_in_a_traders_words_with_the_full_text_on_hover(main_window, qtbot):
    w = main_window
    raw = "socket.gaierror: [Errno -2] Name or service not known (wss://delayed.polygon.io/stocks)"
    w.indicators.apply([SourceStatus("Polygon", SourceState.BACKING_OFF, raw, last_message_at=time.time())])
    label = next(lb for lb in w.statusBar().findChildren(QLabel) if "Polygon" in lb.text())
    shown = shown_text(label.parentWidget())
    assert "gaierror" not in shown and "Errno" not in shown, shown
    assert raw in label.toolTip()
    assert label.sizeHint().width() <= w.width() // 2, "the message runs off the window's edge"
