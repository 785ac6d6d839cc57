"""News ticker (newest articles across the watchlist) and the article details panel."""

from __future__ import annotations

from datetime import datetime, tzinfo

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from app.impact_view import impact_html
from backend.model import Article

MAX_TICKER_ITEMS = 500
ARTICLE_ROLE = Qt.ItemDataRole.UserRole


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
            item.setToolTip(article.title)
        while self.count() > MAX_TICKER_ITEMS:
            old = self.takeItem(self.count() - 1)
            self._items.pop(old.data(ARTICLE_ROLE).id, None)

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
    """Headline, section, time, symbols, trail text and an 'Open article' button."""

    def __init__(self, tz: tzinfo, parent=None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.article: Article | None = None
        self.headline = QLabel("Click a news marker or a ticker item to see the story here.")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-weight: bold; font-size: 13pt;")
        self.meta = QLabel("")
        self.meta.setStyleSheet("color: #999;")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.impact = QLabel("")
        self.impact.setWordWrap(True)
        self.impact.setTextFormat(Qt.TextFormat.RichText)
        self.open_button = QPushButton("Open article")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open)
        layout = QVBoxLayout(self)
        for w in (self.headline, self.meta, self.summary, self.impact, self.open_button):
            layout.addWidget(w)
        layout.addStretch(1)

    def show_article(self, article: Article) -> None:
        self.article = article
        when = datetime.fromtimestamp(article.published_ms / 1000, tz=self.tz).strftime("%a %b %d %Y %H:%M %Z")
        self.headline.setText(article.title)
        self.meta.setText(f"{article.section} · {when} · {', '.join(sorted(article.symbols))}")
        self.summary.setText(article.summary)
        self.open_button.setEnabled(bool(article.url))
        self.impact.setText("<i>Measuring the price impact…</i>")

    def show_impacts(self, article_id: str, impacts: list) -> None:
        """Show the article's impact per symbol (ignored if another article is shown by now)."""
        if self.article is not None and self.article.id == article_id:
            self.impact.setText(impact_html(impacts))

    def _open(self) -> None:
        if self.article is not None:
            QDesktopServices.openUrl(QUrl(self.article.url))
