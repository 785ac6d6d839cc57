"""The product owner's walk-through, driven with mouse and keyboard on the real window at 1600×900.

Launch → set a watchlist in the settings dialog (several tickers with Enter, one invalid, then
fixed) → click a news marker on the chart. A screenshot is saved after each step (to the test's
tmp dir, or to ``$TICKERWIRE_WALKTHROUGH_DIR``). Runs offscreen (tests/app/conftest.py gives the
offscreen screen 1600×900) or under a real X server (``QT_QPA_PLATFORM=xcb`` with ``DISPLAY`` set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.settings_dialog import SettingsDialog


def focused(qtbot):
    """The widget that gets the keyboard now (after a dialog closes, its window takes the focus back)."""
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
    return QApplication.focusWidget()


def keys(qtbot, text: str) -> None:
    for ch in text:
        qtbot.keyClick(focused(qtbot), ch)


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(focused(qtbot), key, modifier)


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("TICKERWIRE_WALKTHROUGH_DIR") or tmp_path / "walkthrough")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(widget, folder: Path, name: str) -> Path:
    path = folder / name
    assert widget.grab().save(str(path), "PNG")
    image = QImage(str(path))
    assert image.width() >= 400 and image.height() >= 300
    return path


def test_launch_set_a_watchlist_and_click_a_news_marker(make_window, qtbot, shots):
    # 1. Launch: a new user's first window.
    w = make_window(("AAPL", "AMZN", "MSFT"), size=None)
    w.resize(1600, 900) if w.screen().availableGeometry().width() < 1600 else None
    qtbot.waitExposed(w)
    assert w.screen().availableGeometry().contains(w.frameGeometry())
    model = w.watchlist.model_
    qtbot.waitUntil(lambda: model.data(model.index(0, 1)) not in ("—", None), timeout=20_000)
    assert w.chart.symbol == "AAPL" and w.chart.data.n > 300 and not w.chart.placeholder.isVisible()
    save(w, shots, "01-launch.png")

    # 2. Settings with the keyboard: Ctrl+, then tickers with Enter, one of them invalid.
    w.activateWindow()
    qtbot.mouseClick(w.chart.graphics.viewport(), Qt.MouseButton.LeftButton)
    press(qtbot, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in w.findChildren(SettingsDialog)), timeout=5_000)
    dialog = next(d for d in w.findChildren(SettingsDialog) if d.isVisible())
    qtbot.waitUntil(dialog.new_symbol.hasFocus, timeout=5_000)
    for ticker in ("nflx", "jpm"):
        keys(qtbot, ticker)
        press(qtbot, Qt.Key.Key_Return)
        assert dialog.isVisible() and dialog.error.text() == ""
    keys(qtbot, "brk..b")
    press(qtbot, Qt.Key.Key_Return)
    assert dialog.isVisible() and "not valid" in dialog.error.text()
    save(dialog, shots, "02-settings-invalid-ticker.png")
    press(qtbot, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    keys(qtbot, "dis")
    assert dialog.error.text() == ""  # fixed: the message is gone before Enter
    press(qtbot, Qt.Key.Key_Return)
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == \
        ["AAPL", "AMZN", "MSFT", "NFLX", "JPM", "DIS"]
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert model.symbols() == ["AAPL", "AMZN", "MSFT", "NFLX", "JPM", "DIS"]
    qtbot.waitUntil(lambda: model.data(model.index(5, 1)) not in ("—", None), timeout=30_000)
    save(w, shots, "03-watchlist-set.png")

    # 3. Stop following the live edge (Left arrow on the chart), then click a news marker on screen.
    w.activateWindow()
    qtbot.mouseClick(w.chart.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=w.chart.graphics.mapFromScene(w.chart.volume.sceneBoundingRect().center()))
    press(qtbot, Qt.Key.Key_Left)
    assert not w.chart.following and w.live_button.isVisible()
    chart = w.chart
    (x0, x1), (y0, y1) = chart.price.vb.viewRange()
    visible = [s for s in chart.markers.points() if x0 + 2 < s.pos().x() < x1 - 2 and y0 < s.pos().y() < y1]
    if not visible:  # no news in this stretch: a ticker click scrolls to an article (and is a user action too)
        article = next(a for a in w.ticker.articles() if "AAPL" in a.symbols)
        item = w.ticker.item_for(article.id)
        w.ticker.scrollToItem(item)
        qtbot.mouseClick(w.ticker.viewport(), Qt.MouseButton.LeftButton, pos=w.ticker.visualItemRect(item).center())
        qtbot.wait(100)
        (x0, x1), (y0, y1) = chart.price.vb.viewRange()
        visible = [s for s in chart.markers.points() if x0 < s.pos().x() < x1 and y0 < s.pos().y() < y1]
    spot = visible[-1]
    article_id = spot.data()
    target = chart.graphics.mapFromScene(chart.price.vb.mapViewToScene(QPointF(spot.pos().x(), spot.pos().y())))
    qtbot.mouseMove(chart.graphics.viewport(), target)
    qtbot.wait(100)
    with qtbot.waitSignal(chart.article_clicked, timeout=5_000) as clicked:
        qtbot.mouseClick(chart.graphics.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert clicked.args[0].id == article_id
    assert w.details.headline.text() == clicked.args[0].title
    qtbot.waitUntil(lambda: "return" in w.details.impact.text() or "No price impact" in w.details.impact.text(),
                    timeout=10_000)
    assert chart.news.highlighted == article_id
    save(w, shots, "04-news-marker-clicked.png")
    assert sorted(p.name for p in shots.glob("*.png")) == ["01-launch.png", "02-settings-invalid-ticker.png",
                                                            "03-watchlist-set.png", "04-news-marker-clicked.png"]
