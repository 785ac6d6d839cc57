"""Article and status text is shown as text, never as markup; 'Open article' opens only web links and says
when it cannot (issue 17, bug 8)."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest
from PySide6 import QtGui
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QLabel

from app.news import ArticleDetails, NewsTicker
from backend.model import Article
from backend.sources.base import SourceState, SourceStatus

NY = ZoneInfo("America/New_York")
TITLE = "Apple <b>beats</b> & <img src='file:///etc/passwd'> estimates"
SUMMARY = "Shares <img src=x onerror=alert(1)> rose <a href='file:///etc/passwd'>sharply</a>"


def rendered(text: str, fmt=Qt.TextFormat.AutoText) -> str:
    """What Qt shows for a label or tooltip text: markup rendered when Qt takes it for rich text."""
    if fmt == Qt.TextFormat.PlainText or (fmt == Qt.TextFormat.AutoText and not QtGui.Qt.mightBeRichText(text)):
        return text
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def article(url="https://www.theguardian.com/business/x") -> Article:
    return Article("business/x", 1764345600000, TITLE, url, "business", summary=SUMMARY,
                   symbols=frozenset({"AAPL"}))


class Recorder(QObject):
    """A URL handler registered with QDesktopServices: records what would have been opened."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def recorder():
    rec = Recorder()
    for scheme in ("https", "http", "file", "javascript"):
        QDesktopServices.setUrlHandler(scheme, rec, "open")
    yield rec
    for scheme in ("https", "http", "file", "javascript"):
        QDesktopServices.unsetUrlHandler(scheme)


def test_details_show_article_text_literally(qtbot):
    details = ArticleDetails(NY)
    qtbot.addWidget(details)
    details.show_article(article())
    labels = {lb.text(): lb for lb in details.findChildren(QLabel)}
    for literal in (TITLE, SUMMARY):
        shown = [rendered(lb.text(), lb.textFormat()) for lb in labels.values()]
        assert literal in shown, f"{literal!r} is rendered as markup: {shown}"


def test_ticker_tooltip_shows_the_headline_literally(qtbot):
    ticker = NewsTicker(NY)
    qtbot.addWidget(ticker)
    ticker.add_articles([article()])
    item = ticker.item_for("business/x")
    assert TITLE in item.text()
    assert TITLE in rendered(item.toolTip())


def test_marker_tooltip_shows_the_headline_literally(qtbot):
    from app.chart.view import ChartView
    from test_chart_items import _series

    view = ChartView(NY)
    qtbot.addWidget(view)
    series = _series(50)
    a = Article("business/x", int(series.start[10]), TITLE, "https://www.theguardian.com/x", "business",
                symbols=frozenset({"AAPL"}))
    view.set_series(series, [a])
    spot = view.markers.points()[0]
    tip = view.markers.opts["tip"](spot.pos().x(), spot.pos().y(), spot.data())
    assert TITLE in rendered(tip)


def test_status_details_are_not_markup(main_window):
    w = main_window
    w.indicators.apply([SourceStatus("Guardian", SourceState.FAILED, "server said <b>no</b> & <i>bye</i>",
                                     last_message_at=time.time())])
    label = next(lb for lb in w.statusBar().findChildren(QLabel) if "Guardian" in lb.text())
    assert "<b>no</b> & <i>bye</i>" in rendered(label.toolTip())


def test_open_article_opens_web_links_only_and_says_so_otherwise(qtbot, recorder):
    details = ArticleDetails(NY)
    qtbot.addWidget(details)
    details.show()
    details.show_article(article("file:///etc/passwd"))
    if details.open_button.isEnabled():
        details.open_button.click()
    assert recorder.urls == [], "a file: URL was handed to the desktop"
    assert "file:///etc/passwd" not in "".join(recorder.urls)
    assert any("not a web link" in lb.text() for lb in details.findChildren(QLabel) if lb.isVisible())
    details.show_article(article("https://www.theguardian.com/business/x"))
    details.open_button.click()
    assert recorder.urls == ["https://www.theguardian.com/business/x"]


def test_open_article_says_when_no_browser_opened_it(qtbot):
    details = ArticleDetails(NY)
    qtbot.addWidget(details)
    details.show()
    details.opener = lambda url: False  # QDesktopServices.openUrl's answer when no browser is set up
    details.show_article(article())
    details.open_button.click()
    message = " ".join(lb.text() for lb in details.findChildren(QLabel) if lb.isVisible())
    assert "could not open" in message.lower() and "https://www.theguardian.com/business/x" in message
