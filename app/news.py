"""News column: the ticker (newest articles across the watchlist) over the article details panel.

Article text is shown as plain text everywhere (labels, tooltips): a headline with ``<img …>``
in it shows those characters. *Open article* hands only http(s) links to the desktop and says so
when it cannot open one.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFrame, QLabel, QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget,
)

from app.impact_view import impact_html
from app.text import plain_label, rich_tooltip
from backend.model import Article

MAX_TICKER_ITEMS = 500
ARTICLE_ROLE = Qt.ItemDataRole.UserRole
WEB_SCHEMES = ("http", "https")


class NewsTicker(QListWidget):
    """Newest first; clicking an item emits ``article_selected``."""

    article_selected = Signal(object)  # Article

    def __init__(self, tz: tzinfo, parent=None) -> None:
        super().__init__(parent)
        self.tz = tz
        self._items: dict[str, QListWidgetItem] = {}
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.itemClicked.connect(lambda item: self.article_selected.emit(item.data(ARTICLE_ROLE)))

    def add_articles(self, articles: list[Article]) -> None:
        """Insert new articles in time order; an article seen again (live blog) is updated in place."""
        for article in sorted(articles, key=lambda a: a.published_ms):
            item = self._items.get(article.id)
            if item is None:
                item = QListWidgetItem()
                self._items[article.id] = item
                self.insertItem(self._row_for(article.published_ms), item)
            item.setData(ARTICLE_ROLE, article)
            item.setText(self._label(article))
            item.setToolTip(rich_tooltip(article.title))
        while self.count() > MAX_TICKER_ITEMS:
            old = self.takeItem(self.count() - 1)
            self._items.pop(old.data(ARTICLE_ROLE).id, None)

    def retain(self, symbols: set[str]) -> None:
        """Drop the articles about none of ``symbols`` (after symbols left the watchlist)."""
        for row in range(self.count() - 1, -1, -1):
            article = self.item(row).data(ARTICLE_ROLE)
            if not article.symbols & symbols:
                self._items.pop(article.id, None)
                self.takeItem(row)

    def show_current(self, article_id: str) -> None:
        """Select the item of the article shown in the details (none if it is not in the ticker)."""
        item = self._items.get(article_id)
        self.blockSignals(True)
        if item is None:
            self.clearSelection()
        else:
            self.setCurrentItem(item)
            self.scrollToItem(item)
        self.blockSignals(False)

    def clear_articles(self) -> None:
        self.clear()
        self._items.clear()

    def articles(self) -> list[Article]:
        return [self.item(i).data(ARTICLE_ROLE) for i in range(self.count())]

    def item_for(self, article_id: str) -> QListWidgetItem | None:
        return self._items.get(article_id)

    def _row_for(self, published_ms: int) -> int:
        lo, hi = 0, self.count()
        while lo < hi:  # rows are newest first
            mid = (lo + hi) // 2
            if self.item(mid).data(ARTICLE_ROLE).published_ms > published_ms:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _label(self, a: Article) -> str:
        when = datetime.fromtimestamp(a.published_ms / 1000, tz=self.tz).strftime("%b %d %H:%M")
        return f"{when}  {', '.join(sorted(a.symbols))}\n{a.title}"


class ArticleDetails(QWidget):
    """Headline, section, time, symbols, trail text, impact figures and an 'Open article' button."""

    def __init__(self, tz: tzinfo, parent=None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.article: Article | None = None
        #: How a link is handed to the desktop (QDesktopServices.openUrl: False when nothing opened it).
        self.opener: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.headline = plain_label("Click a news marker or a ticker item to see the story here.")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-weight: bold; font-size: 13pt;")
        self.meta = plain_label()
        self.meta.setWordWrap(True)
        self.meta.setStyleSheet("color: #999;")
        self.summary = plain_label()
        self.summary.setWordWrap(True)
        self.impact = QLabel("")
        self.impact.setWordWrap(True)
        self.impact.setTextFormat(Qt.TextFormat.RichText)  # built by impact_html: every text in it is escaped
        self.open_button = QPushButton("Open article")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open)
        self.message = plain_label()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setStyleSheet("color: #ffb74d;")
        self.message.hide()
        layout = QVBoxLayout(self)
        for w in (self.headline, self.meta, self.summary, self.impact, self.open_button, self.message):
            layout.addWidget(w)
        layout.addStretch(1)

    def show_article(self, article: Article) -> None:
        self.article = article
        when = datetime.fromtimestamp(article.published_ms / 1000, tz=self.tz).strftime("%a %b %d %Y %H:%M %Z")
        self.headline.setText(article.title)
        self.meta.setText(f"{article.section} · {when} · {', '.join(sorted(article.symbols))}")
        self.summary.setText(article.summary)
        self.impact.setText("<i>Measuring the price impact…</i>")
        self.message.hide()
        web = _is_web_link(article.url)
        self.open_button.setEnabled(web)
        self.open_button.setToolTip(rich_tooltip(article.url))
        if article.url and not web:
            self._say(f"The article's link is not a web link, so it is not opened: {article.url}")

    def show_impacts(self, article_id: str, impacts: list) -> None:
        """Show the article's impact per symbol (ignored if another article is shown by now)."""
        if self.article is not None and self.article.id == article_id:
            self.impact.setText(impact_html(impacts))

    def _open(self) -> None:
        if self.article is None:
            return
        url = QUrl(self.article.url)
        if not _is_web_link(self.article.url):
            self._say(f"The article's link is not a web link, so it is not opened: {self.article.url}")
            return
        if not self.opener(url):
            QGuiApplication.clipboard().setText(self.article.url)
            self._say(f"Could not open a web browser. The link is copied to the clipboard: {self.article.url}")

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()


def _is_web_link(url: str) -> bool:
    parsed = QUrl(url)
    return parsed.isValid() and parsed.scheme().lower() in WEB_SCHEMES and bool(parsed.host())


class NewsPanel(QWidget):
    """The news column: ticker over details; the details scroll, so long text never widens the column."""

    def __init__(self, ticker: NewsTicker, details: ArticleDetails, parent=None) -> None:
        super().__init__(parent)
        scroll = QScrollArea()
        scroll.setWidget(details)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("news-splitter")
        self.splitter.addWidget(ticker)
        self.splitter.addWidget(scroll)
        self.splitter.setSizes([480, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
