"""The window's frame and columns (issue 17, bug 5): fits the screen, titled steady news column, readable
selection, docks restorable from a View menu."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPalette
from PySide6.QtWidgets import QDockWidget, QGroupBox, QStyle, QStyleOptionViewItem

from backend.model import Article


def _contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours."""
    def lum(c):
        def ch(v):
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.red()) + 0.7152 * ch(c.green()) + 0.0722 * ch(c.blue())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_first_run_window_fits_the_screen(make_window, qtbot):
    w = make_window(size=None, wait=False)
    qtbot.waitExposed(w)
    available = w.screen().availableGeometry()
    frame = w.frameGeometry()
    assert available.contains(frame), f"window {frame} does not fit the screen's {available}"
    assert frame.width() >= available.width() * 0.8 and frame.height() >= available.height() * 0.8


def test_news_column_has_a_title_and_a_steady_width(main_window, qtbot):
    w = main_window
    parent, titled = w.ticker.parentWidget(), False
    while parent is not None and parent is not w:
        if isinstance(parent, QDockWidget) and parent.windowTitle().strip():
            titled = True
        if isinstance(parent, QGroupBox) and parent.title().strip():
            titled = True
        parent = parent.parentWidget()
    assert titled, "the news column has no title"
    qtbot.wait(50)
    chart_width = w.tabs.width()
    long = Article("long", w.ticker.articles()[0].published_ms,
                   "An exceptionally long headline about quarterly results that goes on and on " * 3,
                   "https://www.theguardian.com/x", "business",
                   summary="A trail text that is much longer than the column is wide " * 12,
                   symbols=frozenset({"AAPL"}))
    w.details.show_article(long)
    qtbot.wait(100)
    assert w.tabs.width() == chart_width, "the chart column changed width when the details filled"


def test_selected_watchlist_row_sparkline_is_readable(main_window, qtbot):
    w = main_window
    view, model = w.watchlist, w.watchlist.model_
    qtbot.waitUntil(lambda: len((model.data(model.index(0, 4), Qt.ItemDataRole.UserRole + 1) or ([],))[0]) > 2,
                    timeout=20_000)
    index = model.index(0, 4)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = QRect(0, 0, 160, 26)
    option.state |= QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_Active
    option.palette = view.palette()
    highlight = view.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight)
    image = QImage(160, 26, QImage.Format.Format_ARGB32)
    image.fill(highlight)
    painter = QPainter(image)
    view.itemDelegateForColumn(4).paint(painter, option, index)
    painter.end()
    best = max(_contrast(QColor(image.pixel(x, y)), highlight) for x in range(160) for y in range(26))
    assert best >= 3.0, f"the sparkline on the selection has a contrast ratio of only {best:.2f}"


def test_a_closed_dock_comes_back_from_the_view_menu(main_window, qtbot):
    w = main_window
    dock = next(d for d in w.findChildren(QDockWidget) if d.widget() is w.watchlist)
    dock.close()
    assert not dock.isVisible()
    menus = {a.text().replace("&", ""): a.menu() for a in w.menuBar().actions()}
    assert "View" in menus, f"no View menu, only {list(menus)}"
    action = next(a for a in menus["View"].actions() if a.text().replace("&", "") == dock.windowTitle())
    action.trigger()
    assert dock.isVisible()
