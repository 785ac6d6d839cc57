"""The chart as a trader reads it (issue 17, bug 4): readout, 1d jumps, axis labels, no stray button, zoom limits."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication

from backend.model import Timeframe


def drawn_labels(axis) -> list[tuple]:
    """The (rect, text) pairs an axis would draw now, as pyqtgraph computes them for painting."""
    image = QImage(max(1, int(axis.width())), max(1, int(axis.height())), QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _, text in texts]


def assert_no_overlap(labels):
    for k, (a, ta) in enumerate(labels):
        assert ta.strip(), "an empty label is drawn"
        for b, tb in labels[k + 1:]:
            assert not a.intersects(b), f"labels {ta!r} and {tb!r} overlap"


def switch_timeframe(window, qtbot, tf: Timeframe):
    window.timeframe.setCurrentIndex(window.timeframe.findData(tf.value))
    qtbot.waitUntil(lambda: window.chart.timeframe == tf and window.chart._loading is None
                    and window.chart.data.n > 0, timeout=20_000)
    qtbot.wait(50)


def hover_chart(window, qtbot, fraction=0.5):
    chart = window.chart
    rect = chart.price.sceneBoundingRect()
    scene_point = QPointF(rect.left() + rect.width() * fraction, rect.center().y())
    qtbot.mouseMove(chart.graphics.viewport(), chart.graphics.mapFromScene(scene_point))
    qtbot.wait(50)


def test_readout_follows_a_symbol_or_timeframe_switch(main_window, qtbot):
    w = main_window
    hover_chart(w, qtbot)
    qtbot.waitUntil(lambda: "AAPL 1m" in w.chart.readout.text, timeout=5_000)
    switch_timeframe(w, qtbot, Timeframe.D1)
    assert "1m" not in w.chart.readout.text, f"stale readout after the switch: {w.chart.readout.text!r}"
    w.watchlist.select_symbol("AMZN")
    qtbot.waitUntil(lambda: w.chart.symbol == "AMZN" and w.chart._loading is None, timeout=20_000)
    assert "AAPL" not in w.chart.readout.text


def test_jumping_to_an_article_on_1d_keeps_the_candles_readable_and_the_marker_on_top(main_window, qtbot):
    w = main_window
    switch_timeframe(w, qtbot, Timeframe.D1)
    chart, d = w.chart, w.chart.data
    qtbot.waitUntil(lambda: len(chart.markers.points()) >= 2, timeout=20_000)
    # An article that shares its day with a later one: its marker used to be drawn underneath.
    by_x: dict[float, list] = {}
    for spot in chart.markers.points():
        by_x.setdefault(spot.pos().x(), []).append(spot.data())
    shared = next(ids for ids in by_x.values() if len(ids) >= 2)
    article = chart.news.articles[shared[0]]
    w.show_article(article)
    qtbot.wait(50)
    (x0, x1), _ = chart.price.vb.viewRange()
    shown = min(x1, d.n - 0.5) - max(x0, -0.5)
    assert shown / (x1 - x0) >= 0.5, f"{d.n} candles squeezed into {shown / (x1 - x0):.0%} of the width"
    x = chart.marker_position(article.id)[0]
    on_candle = [s.data() for s in chart.markers.points() if s.pos().x() == x]
    assert on_candle[-1] == article.id, "the highlighted marker is drawn under another"
    assert_no_overlap(drawn_labels(chart.axis))


def test_time_labels_do_not_overlap_at_1m(main_window, qtbot):
    w = main_window
    n = w.chart.data.n
    for width in (1600, 1100, 900):
        w.resize(width, 860)
        for x0, x1 in ((n - 120, n + 2), (n - 45, n), (n - 400, n), (0, n)):
            w.chart.price.setXRange(x0, x1, padding=0)
            qtbot.wait(20)
            assert_no_overlap(drawn_labels(w.chart.axis))


def test_volume_axis_uses_k_and_m(main_window, qtbot):
    w = main_window
    switch_timeframe(w, qtbot, Timeframe.D1)  # daily volumes are millions
    labels = [t for _, t in drawn_labels(w.chart.volume.getAxis("right"))]
    assert labels and not any("e+" in t for t in labels), labels
    assert any(t.endswith("M") for t in labels), labels


def test_no_auto_range_button_on_hover(main_window, qtbot):
    w = main_window
    for fraction in (0.3, 0.6, 0.9):
        hover_chart(w, qtbot, fraction)
    qtbot.mouseMove(w.chart.graphics.viewport(),
                    w.chart.graphics.mapFromScene(w.chart.volume.sceneBoundingRect().center()))
    qtbot.wait(100)
    assert not w.chart.price.autoBtn.isVisible() and not w.chart.volume.autoBtn.isVisible()


def test_zooming_out_stops_at_the_data(main_window, qtbot):
    w = main_window
    chart = w.chart
    viewport = chart.graphics.viewport()
    pos = QPointF(chart.graphics.mapFromScene(chart.price.sceneBoundingRect().center()))
    for _ in range(40):
        event = QWheelEvent(pos, QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(viewport, event)
    qtbot.wait(50)
    (x0, x1), _ = chart.price.vb.viewRange()
    n = chart.data.n
    assert x1 - x0 <= n * 1.15 + 10, f"zoomed out to {x1 - x0:.0f} candles wide with {n} candles of data"
    assert x0 >= -0.1 * n - 10 and x1 <= n * 1.1 + 10
