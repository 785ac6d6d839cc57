"""The main window: watchlist, chart, news ticker and details, status bar; wired to the pipeline controller."""

from __future__ import annotations

import logging
import time
from datetime import datetime, tzinfo

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QPushButton, QSplitter, QTabWidget,
    QVBoxLayout, QWidget,
)

from app.alerts_view import AlertLog, Notifier
from app.controller import PipelineController
from app.grafana_tab import GrafanaTab  # imports QtWebEngine, which must precede the QApplication
from app.stack_mode import connection_for, default_backend
from app.stack_panel import StackPanel
from app.impact_view import ImpactTable
from app.chart.view import ChartView
from app.news import ArticleDetails, NewsTicker
from app.settings_dialog import SettingsDialog
from app.status import SourceIndicators
from app.watchlist_view import WatchlistView
from backend.model import Article, Timeframe
from backend.pipeline import CandleSeries, PipelineUpdate
from backend.settings import Settings, tickerwire_home
from backend.timeutil import NEW_YORK

log = logging.getLogger(__name__)


def _zone(setting: str) -> tzinfo:
    """Exchange time (New York) or the machine's local zone."""
    return datetime.now().astimezone().tzinfo if setting == "local" else NEW_YORK


class MainWindow(QMainWindow):
    """TickerWire's window. All data arrives through ``bridge.updated``; nothing here waits on I/O."""

    def __init__(self, settings: Settings, controller: PipelineController) -> None:
        super().__init__()
        self.settings = settings
        self.controller = controller
        self.bridge = bridge = controller.bridge
        self._show_store()
        self.resize(1400, 860)
        tz = _zone(settings.get("timezone"))
        self._load_generation = 0
        self._pending_article: str | None = None
        self._known_articles: dict[str, Article] = {}
        self.latencies_ns: list[int] = []  # message-to-pixel samples (for benchmarks)
        self._awaiting_paint_ns = 0

        # Chart area with its toolbar.
        self.chart = ChartView(tz)
        self.symbol_label = QLabel("")
        self.symbol_label.setStyleSheet("font-weight: bold; font-size: 14pt;")
        self.timeframe = QComboBox()
        for tf in Timeframe:
            self.timeframe.addItem(tf.value, tf.value)
        self.timeframe.setCurrentIndex(self.timeframe.findData(settings.get("timeframe")))
        self.live_button = QPushButton("Resume live ▶")
        self.live_button.setVisible(False)
        self.live_button.clicked.connect(self.chart.resume_live)
        bar = QHBoxLayout()
        bar.addWidget(self.symbol_label)
        bar.addStretch(1)
        bar.addWidget(self.live_button)
        bar.addWidget(QLabel("Timeframe"))
        bar.addWidget(self.timeframe)
        chart_page = QWidget()
        cl = QVBoxLayout(chart_page)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addLayout(bar)
        cl.addWidget(self.chart, 1)
        self.impact_table = ImpactTable(tz)
        self.alert_log = AlertLog(tz)
        self.notifier = Notifier(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(chart_page, "Chart")
        self.tabs.addTab(self.impact_table, "News impact")
        self.tabs.addTab(self.alert_log, "Alerts")
        self.stack_panel = StackPanel(default_backend, self)
        # The Grafana web view (QtWebEngine: a browser engine) is made when its tab is first opened.
        self.grafana: GrafanaTab | None = None
        self._grafana_url = "http://127.0.0.1:3000/"
        self._grafana_page = QWidget()
        QVBoxLayout(self._grafana_page).setContentsMargins(0, 0, 0, 0)
        self.mode = QComboBox()
        self.mode.addItem("Embedded (in-process)", "embedded")
        self.mode.addItem("Stack (Kafka, Flink, InfluxDB)", "stack")
        self.mode_note = QLabel("")
        self.mode_note.setWordWrap(True)
        stack_page = QWidget()
        sl = QVBoxLayout(stack_page)
        mode_row = QHBoxLayout()
        mode_row.addWidget(QLabel("Pipeline"))
        mode_row.addWidget(self.mode)
        mode_row.addWidget(self.mode_note, 1)
        sl.addLayout(mode_row)
        sl.addWidget(self.stack_panel, 1)
        self.tabs.addTab(stack_page, "Stack")
        self.tabs.addTab(self._grafana_page, "Grafana")
        self._endpoints = None
        if settings.get("mode") == "stack" and controller.mode != "stack":
            self.mode_note.setText("The last session ran on the stack: start it below, then choose Stack.")
        self.mode.setCurrentIndex(self.mode.findData(controller.mode))

        # News: ticker over details.
        self.ticker = NewsTicker(tz)
        self.details = ArticleDetails(tz)
        news = QSplitter(Qt.Orientation.Vertical)
        news.addWidget(self.ticker)
        news.addWidget(self.details)
        news.setSizes([520, 260])

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.tabs)
        main.addWidget(news)
        main.setSizes([1000, 400])
        self.setCentralWidget(main)

        self.watchlist = WatchlistView()
        dock = QDockWidget("Watchlist", self)
        dock.setObjectName("watchlist-dock")
        dock.setWidget(self.watchlist)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.resizeDocks([dock], [380], Qt.Orientation.Horizontal)

        self.indicators = SourceIndicators(self.statusBar())
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self.indicators.refresh)
        self._status_timer.start(1000)

        settings_action = QAction("&Settings…", self)
        settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        settings_action.triggered.connect(self.open_settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&File")
        menu.addAction(settings_action)
        menu.addAction(quit_action)

        # Wiring.
        bridge.updated.connect(self._on_pipeline_updated)
        self.watchlist.symbol_selected.connect(self.select_symbol)
        self.timeframe.currentIndexChanged.connect(self._on_timeframe_changed)
        self.chart.article_clicked.connect(self._show_details)
        self.impact_table.impact_selected.connect(self._on_impact_selected)
        self.chart.follow_changed.connect(lambda following: self.live_button.setVisible(not following))
        self.ticker.article_selected.connect(self.show_article)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.stack_panel.endpoints_ready.connect(self._on_stack_endpoints)
        self.stack_panel.running_changed.connect(self._on_stack_running)
        self.mode.currentIndexChanged.connect(self._on_mode_chosen)
        controller.switched.connect(self._on_switched)
        controller.switch_failed.connect(self._on_switch_failed)
        self.chart.graphics.frame_listeners.append(self._on_chart_painted)
        settings.on_change(self._on_setting_changed)

        self._restore_layout()
        self._apply_watchlist()
        bridge.deliver(bridge.pipeline.load_impacts(), self._on_impacts_loaded)

    # -- actions ----------------------------------------------------------------------------------

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self)
        dialog.open()
        return dialog

    def select_symbol(self, symbol: str) -> None:
        """Load a symbol's history off the GUI thread; the chart switches when it arrives."""
        self._load_generation += 1
        generation = self._load_generation
        tf = Timeframe(self.timeframe.currentData())
        self.symbol_label.setText(symbol)
        self.chart.begin_load(symbol, tf)
        pipeline = self.bridge.pipeline
        candles = pipeline.load_candles(symbol, tf)
        articles = pipeline.load_articles([symbol])

        def on_candles(series: CandleSeries) -> None:
            self.bridge.deliver(articles, lambda arts: self._show_series(generation, series, arts))

        self.bridge.deliver(candles, on_candles)

    def _show_details(self, article: Article) -> None:
        """Details panel for an article, its impact figures fetched off the GUI thread."""
        self.details.show_article(article)
        self.bridge.deliver(self.bridge.pipeline.load_impacts_for_article(article.id),
                            lambda impacts: self.details.show_impacts(article.id, impacts))

    def _on_impact_selected(self, impact) -> None:
        article = self._known_articles.get(impact.article_id)
        if article is not None:
            self.tabs.setCurrentIndex(0)
            self.show_article(article)

    def _on_impacts_loaded(self, impacts) -> None:
        self.impact_table.model_.apply(impacts)
        self.chart.apply_impacts(impacts)

    def _remember(self, articles: list[Article]) -> None:
        for a in articles:
            self._known_articles[a.id] = a
        self.impact_table.model_.set_titles(articles)

    def show_article(self, article: Article) -> None:
        """Ticker click: select the article's symbol, scroll the chart to it, highlight its marker."""
        self._show_details(article)
        symbol = self.chart.symbol if self.chart.symbol in article.symbols else sorted(article.symbols)[0]
        if symbol == self.chart.symbol and self.chart.show_article(article.id):
            return
        self._pending_article = article.id
        self.watchlist.select_symbol(symbol)
        if self.chart.symbol != symbol:
            self.select_symbol(symbol)

    # -- updates ----------------------------------------------------------------------------------

    def _show_series(self, generation: int, series: CandleSeries, articles: list[Article]) -> None:
        if generation != self._load_generation:
            return  # a newer selection superseded this load
        self.chart.set_series(series, articles)
        self.chart.set_impacts(self.impact_table.model_.impacts_for(series.symbol))
        self._remember(articles)
        if self._pending_article is not None:
            self.chart.show_article(self._pending_article)
            self._pending_article = None

    def _on_pipeline_updated(self, update: PipelineUpdate) -> None:
        if update.candles:
            self.chart.apply_candles(update.candles)
        if update.articles:
            watched = set(self.watchlist.model_.symbols())
            relevant = [a for a in update.articles if a.symbols & watched]
            self.ticker.add_articles(relevant)
            self.chart.add_articles(relevant)
            self._remember(relevant)
        if update.impacts:
            self.impact_table.model_.apply(update.impacts)
            self.chart.apply_impacts(update.impacts)
            shown = self.details.article
            if shown is not None and any(i.article_id == shown.id for i in update.impacts):
                self._show_details(shown)
        if update.alerts:
            self.alert_log.add_alerts(update.alerts)
            if self.settings.get("alerts_enabled"):
                self.notifier.notify(update.alerts)
        if update.snapshots:
            self.watchlist.model_.apply(update.snapshots)
        if update.statuses:
            self.indicators.apply(update.statuses)
        if update.entered_ns and update.candles and self._awaiting_paint_ns == 0:
            self._awaiting_paint_ns = update.entered_ns

    def _on_chart_painted(self) -> None:
        """Message-to-pixel latency: from a message entering the bus to the frame that shows it."""
        if self._awaiting_paint_ns:
            self.latencies_ns.append(time.perf_counter_ns() - self._awaiting_paint_ns)
            del self.latencies_ns[:-10_000]
            self._awaiting_paint_ns = 0

    def _on_timeframe_changed(self, _index: int) -> None:
        self.settings.set("timeframe", str(self.timeframe.currentData()))
        if self.chart.symbol:
            self.select_symbol(self.chart.symbol)

    def _on_setting_changed(self, name: str, value) -> None:
        """The window's side of a setting change (the controller applies it to the pipeline)."""
        if name == "watchlist":
            self._apply_watchlist()
        elif name == "timezone":
            tz = _zone(value)
            self.chart.set_timezone(tz)
            self.ticker.tz = self.details.tz = self.alert_log.tz = self.impact_table.model_.tz = tz

    def _apply_watchlist(self) -> None:
        symbols = [w.symbol for w in self.settings.watchlist]
        current = self.chart.symbol
        self.watchlist.model_.set_symbols(symbols)
        self.bridge.deliver(self.bridge.pipeline.load_snapshots(symbols), self.watchlist.model_.apply)
        self.bridge.deliver(self.bridge.pipeline.load_articles(symbols), self._on_articles_loaded)
        if symbols:
            self.watchlist.select_symbol(current if current in symbols else symbols[0])

    def _on_articles_loaded(self, articles: list[Article]) -> None:
        self.ticker.add_articles(articles)
        self._remember(articles)

    # -- embedded ⇄ stack --------------------------------------------------------------------------

    def _on_stack_endpoints(self, endpoints) -> None:
        self._endpoints = endpoints
        self._grafana_url = endpoints.dashboard_url or self._grafana_url
        if self.grafana is not None:
            self.grafana.set_url(endpoints.dashboard_url, endpoints.grafana_note)

    def _on_stack_running(self, running: bool) -> None:
        if self.grafana is not None:
            self.grafana.refresh()
        if not running and self.mode.currentData() == "stack":
            self.mode_note.setText("The stack stopped: back to the embedded pipeline.")
            self.mode.setCurrentIndex(0)

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self._grafana_page and self.grafana is None:
            note = self._endpoints.grafana_note if self._endpoints is not None else ""
            self.grafana = GrafanaTab(self._grafana_url, self._grafana_page, note=note)
            self.grafana.start_requested.connect(self.stack_panel.start)
            self._grafana_page.layout().addWidget(self.grafana)

    def _on_mode_chosen(self, _index: int) -> None:
        """Rewire the window to the other pipeline without a restart (the controller builds it off the GUI thread)."""
        mode = self.mode.currentData()
        if mode == self.controller.mode:
            return
        connection = None
        if mode == "stack":
            try:
                connection = connection_for(self._endpoints)
            except ValueError as exc:
                self.mode_note.setText(f"{exc}; then choose Stack again.")
                self.mode.setCurrentIndex(self.mode.findData(self.controller.mode))
                return
        self.mode_note.setText(f"Switching to the {mode} pipeline…")
        self.mode.setEnabled(False)
        self.controller.switch(mode, connection)

    def _on_switched(self, pipeline) -> None:
        """A new pipeline runs (a switch or a rebuild): reload everything the window shows from it."""
        self.mode.setEnabled(True)
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(pipeline.mode))
        self.mode.blockSignals(False)
        self.mode_note.setText(f"Running on the {pipeline.mode} pipeline.")
        self._show_store()
        self.ticker.clear_articles()
        self._apply_watchlist()
        self.bridge.deliver(pipeline.load_impacts(), self._on_impacts_loaded)
        if self.chart.symbol:
            self.select_symbol(self.chart.symbol)

    def _on_switch_failed(self, message: str) -> None:
        self.mode.setEnabled(True)
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(self.controller.mode))
        self.mode.blockSignals(False)
        self.mode_note.setText(f"Could not switch: {message}")

    def _show_store(self) -> None:
        """The title says which store the window shows (live data, the demo's own, a replay's, the stack)."""
        self.setWindowTitle(f"TickerWire — {self.controller.pipeline.store_label}")

    # -- layout persistence -----------------------------------------------------------------------

    def _ui_state(self) -> QSettings:
        return QSettings(str(tickerwire_home() / "ui-state.ini"), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        state = self._ui_state()
        geometry, layout = state.value("geometry"), state.value("state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(layout, QByteArray):
            self.restoreState(layout)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.stack_panel.shutdown()
        self.controller.shutdown()  # a pipeline switched away from finishes stopping, then the running one stops
        state = self._ui_state()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("state", self.saveState())
        state.sync()
        super().closeEvent(event)
