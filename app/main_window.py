"""The main window: watchlist, chart, news ticker and details, status bar; wired to the pipeline controller.

Docks (watchlist, news) can be closed and brought back from the View menu; the workspace — the
chart's symbol, timeframe and indicators, the docks and window geometry — is restored on start.
Symbols removed from the watchlist leave every view (ticker, impact rows, alerts, the chart).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QPushButton, QTabWidget,
    QVBoxLayout, QWidget,
)

from app.alerts_view import AlertsTab, Notifier
from app.chart.chooser import IndicatorChooser
from app.chart.indicators import IndicatorSpec
from app.controller import PipelineController
from app.keyboard import SymbolJump, TypeToJump
from app.remote_stack_panel import RemoteStackPanel, StackChoice
from app.stack_mode import connection_for, default_backend, remote_connection
from app.stack_panel import StackPanel
from app.impact_view import ImpactTable
from app.chart.view import ChartView
from app.news import ArticleDetails, NewsPanel, NewsTicker
from app.settings_dialog import SettingsDialog
from app.status import SourceIndicators
from app.watchlist_view import WatchlistView
from backend.model import Article, Timeframe
from backend.pipeline import CandleSeries, PipelineUpdate
from backend.settings import Settings, tickerwire_home
from backend.signals.alerts import Alert
from backend.timeutil import NEW_YORK
from backend.watchlist import default_watch_item

if TYPE_CHECKING:
    from app.grafana_tab import GrafanaTab

log = logging.getLogger(__name__)

FIRST_RUN_SIZE = (1600, 1000)  # at most; a smaller screen gets its available area minus the frame
FRAME_ALLOWANCE = (16, 48)  # window-manager borders and title bar, before they are known


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
        self._fit_to_screen()
        tz = _zone(settings.get("timezone"))
        self._load_generation = 0
        self._pending_article: str | None = None
        self._pending_time: int | None = None  # an alert's moment to scroll to once its chart loads
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
        self.indicator_chooser = IndicatorChooser()
        bar = QHBoxLayout()
        bar.addWidget(self.symbol_label)
        bar.addStretch(1)
        bar.addWidget(self.live_button)
        bar.addWidget(self.indicator_chooser)
        bar.addWidget(QLabel("Timeframe"))
        bar.addWidget(self.timeframe)
        chart_page = QWidget()
        cl = QVBoxLayout(chart_page)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addLayout(bar)
        cl.addWidget(self.chart, 1)
        self.impact_table = ImpactTable(tz)
        self.alerts_tab = AlertsTab(tz, settings)
        self.alert_log = self.alerts_tab.log
        self.notifier = Notifier(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(chart_page, "Chart")
        self.tabs.addTab(self.impact_table, "News impact")
        self.tabs.addTab(self.alerts_tab, "Alerts")
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
        # Which stack "Stack" means: this machine's (started below) or a remote profile (edited and tested below).
        self.stack_choice = StackChoice(settings)
        self.remote_panel = RemoteStackPanel(settings, self)
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Stack"))
        choice_row.addWidget(self.stack_choice, 1)
        sl.addLayout(choice_row)
        sl.addWidget(self.stack_panel, 1)
        sl.addWidget(self.remote_panel, 1)
        self._show_stack_choice()
        self.tabs.addTab(stack_page, "Stack")
        self.tabs.addTab(self._grafana_page, "Grafana")
        self._endpoints = None
        if settings.get("mode") == "stack" and controller.mode != "stack":
            self.mode_note.setText("The last session ran on the stack: start it below, then choose Stack.")
        self.mode.setCurrentIndex(self.mode.findData(controller.mode))

        # News (right) and watchlist (left) are docks around the tabs; the View menu brings them back.
        self.ticker = NewsTicker(tz)
        self.details = ArticleDetails(tz)
        self.news_panel = NewsPanel(self.ticker, self.details)
        self.setCentralWidget(self.tabs)
        self.watchlist = WatchlistView()
        self.watchlist_dock = self._dock("Watchlist", "watchlist-dock", self.watchlist,
                                         Qt.DockWidgetArea.LeftDockWidgetArea)
        self.news_dock = self._dock("News", "news-dock", self.news_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.watchlist_dock, self.news_dock], [360, 380], Qt.Orientation.Horizontal)
        self.jump = SymbolJump(self.watchlist.model_.symbols, self)
        self._keys = TypeToJump(self, self.jump, self.step_watchlist, self._jump_anchor)

        self.indicators = SourceIndicators(self.statusBar())
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self.indicators.refresh)
        self._status_timer.start(1000)

        self._build_menus()

        # Wiring.
        bridge.updated.connect(self._on_pipeline_updated)
        self.watchlist.symbol_selected.connect(self.select_symbol)
        self.indicator_chooser.changed.connect(lambda keys: self.settings.set("indicators", keys))
        self.alert_log.alert_selected.connect(self.show_alert)
        self.jump.chosen.connect(self.watchlist.select_symbol)
        self.jump.add_requested.connect(self.add_symbol)
        self.timeframe.currentIndexChanged.connect(self._on_timeframe_changed)
        self.chart.article_clicked.connect(self._show_details)
        self.impact_table.impact_selected.connect(self._on_impact_selected)
        self.chart.follow_changed.connect(lambda following: self.live_button.setVisible(not following))
        self.ticker.article_selected.connect(self.show_article)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.stack_panel.endpoints_ready.connect(self._on_stack_endpoints)
        self.stack_panel.running_changed.connect(self._on_stack_running)
        self.mode.currentIndexChanged.connect(self._on_mode_chosen)
        self.stack_choice.currentIndexChanged.connect(self._on_stack_chosen)
        controller.switched.connect(self._on_switched)
        controller.switch_failed.connect(self._on_switch_failed)
        self.chart.graphics.frame_listeners.append(self._on_chart_painted)
        settings.on_change(self._on_setting_changed)

        self._restore_layout()
        self._apply_indicators()
        self._apply_watchlist()
        bridge.deliver(bridge.pipeline.load_impacts(), self._on_impacts_loaded)

    # -- layout -----------------------------------------------------------------------------------

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        settings_action = QAction("&Settings…", self)
        settings_action.setShortcuts([QKeySequence("Ctrl+,"), *([QKeySequence(QKeySequence.StandardKey.Preferences)]
                                      if QKeySequence(QKeySequence.StandardKey.Preferences).toString() else [])])
        settings_action.triggered.connect(self.open_settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&File")
        menu.addAction(settings_action)
        menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        for dock in (self.watchlist_dock, self.news_dock):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        live = QAction("Resume &live", self)
        live.setShortcut(QKeySequence("End"))
        live.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        live.triggered.connect(self.chart.resume_live)
        self.chart.addAction(live)
        view.addAction(live)
        fit = QAction("&Fit prices", self)
        fit.triggered.connect(self.chart.fit_prices)
        view.addAction(fit)
        jump = QAction("&Go to symbol…", self)
        jump.setShortcut(QKeySequence("Ctrl+K"))
        jump.triggered.connect(lambda: self.jump.start("", self._jump_anchor()))
        view.addAction(jump)
        view.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view.addAction(reset)

    def _fit_to_screen(self) -> None:
        """First-run geometry: as large as the screen allows (frame included), centred on it."""
        screen = self.screen().availableGeometry()
        width = min(FIRST_RUN_SIZE[0], screen.width() - FRAME_ALLOWANCE[0])
        height = min(FIRST_RUN_SIZE[1], screen.height() - FRAME_ALLOWANCE[1])
        self.resize(width, height)
        self.move(screen.left() + (screen.width() - width - FRAME_ALLOWANCE[0]) // 2,
                  screen.top() + (screen.height() - height - FRAME_ALLOWANCE[1]) // 2)
        self._own_size = self.size()  # _keep_on_screen corrects only the size chosen here

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        QTimer.singleShot(0, self._keep_on_screen)

    def _keep_on_screen(self) -> None:
        """Once the frame is known: pull a window of the size chosen here back inside the screen's area
        (a frame bigger than allowed for); a size restored or set by someone else is left alone."""
        if self._own_size is None or self.size() != self._own_size:
            return
        self._own_size = None
        screen = self.screen().availableGeometry()
        frame, inner = self.frameGeometry(), self.geometry()
        extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()
        if frame.width() > screen.width() or frame.height() > screen.height():
            self.resize(min(inner.width(), screen.width() - extra_w), min(inner.height(), screen.height() - extra_h))
            frame = self.frameGeometry()
        x = min(max(frame.left(), screen.left()), screen.right() + 1 - frame.width())
        y = min(max(frame.top(), screen.top()), screen.bottom() + 1 - frame.height())
        if (x, y) != (frame.left(), frame.top()):
            self.move(x, y)

    def reset_layout(self) -> None:
        """Docks back where a new user has them."""
        for dock, area in ((self.watchlist_dock, Qt.DockWidgetArea.LeftDockWidgetArea),
                           (self.news_dock, Qt.DockWidgetArea.RightDockWidgetArea)):
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.resizeDocks([self.watchlist_dock, self.news_dock], [360, 380], Qt.Orientation.Horizontal)

    def _jump_anchor(self) -> QPoint:
        """Where the go-to-symbol box opens: over the chart, near its top."""
        top_left = self.chart.mapTo(self, QPoint(0, 0))
        return QPoint(top_left.x() + max(0, (self.chart.width() - self.jump.width()) // 2), top_left.y() + 24)

    # -- actions ----------------------------------------------------------------------------------

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self)
        dialog.open()
        return dialog

    def step_watchlist(self, delta: int) -> None:
        """Up/Down anywhere but a list or a text field: the previous or next watched symbol."""
        symbols = self.watchlist.model_.symbols()
        if not symbols:
            return
        current = symbols.index(self.chart.symbol) if self.chart.symbol in symbols else -delta
        self.watchlist.select_symbol(symbols[(current + delta) % len(symbols)])

    def add_symbol(self, symbol: str) -> None:
        """Add a ticker to the watchlist (from the go-to-symbol box) and show it."""
        items = list(self.settings.watchlist)
        if symbol not in {i.symbol for i in items}:
            try:
                self.settings.set("watchlist", items + [default_watch_item(symbol)])
            except ValueError as exc:
                self.statusBar().showMessage(f"Could not add {symbol}: {exc}", 8000)
                return
        self.watchlist.select_symbol(symbol)

    def select_symbol(self, symbol: str) -> None:
        """Load a symbol's history off the GUI thread; the chart switches when it arrives."""
        if symbol in self.watchlist.model_.symbols() and self.settings.get("chart_symbol") != symbol:
            self.settings.set("chart_symbol", symbol)
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
        self.ticker.show_current(article.id)
        self.bridge.deliver(self.bridge.pipeline.load_impacts_for_article(article.id),
                            lambda impacts: self.details.show_impacts(article.id, impacts))

    def _on_impact_selected(self, impact) -> None:
        article = self._known_articles.get(impact.article_id)
        if article is not None:
            self.tabs.setCurrentIndex(0)
            self.show_article(article)
            return

        def found(articles: list[Article]) -> None:  # not loaded yet: fetch the symbol's articles
            self._remember(articles)
            if impact.article_id in self._known_articles:
                self._on_impact_selected(impact)

        self.bridge.deliver(self.bridge.pipeline.load_articles([impact.symbol]), found)

    def show_alert(self, alert: Alert) -> None:
        """An alert clicked in the log: its article, or its moment on the symbol's chart."""
        if alert.symbol not in self.watchlist.model_.symbols():
            return
        article = self._known_articles.get(alert.article_id) if alert.article_id else None
        self.tabs.setCurrentIndex(0)
        if article is not None and alert.symbol in article.symbols:
            self.show_article(article, alert.symbol)
            return
        if self.chart.symbol == alert.symbol and not self.chart.loading and self.chart.show_time(alert.at_ms):
            return
        self._pending_time = alert.at_ms
        self.watchlist.select_symbol(alert.symbol)
        if self.chart.symbol != alert.symbol:
            self.select_symbol(alert.symbol)

    def _on_impacts_loaded(self, impacts) -> None:
        self.impact_table.model_.apply(impacts)
        self.chart.apply_impacts(impacts)

    def _remember(self, articles: list[Article]) -> None:
        for a in articles:
            self._known_articles[a.id] = a
        self.impact_table.model_.set_titles(articles)

    def show_article(self, article: Article, symbol: str | None = None) -> None:
        """Ticker click: select the article's symbol, scroll the chart to it, highlight its marker.

        Only watched symbols are charted: an article about none of them just shows its details.
        """
        self._show_details(article)
        watched = [s for s in sorted(article.symbols) if s in self.watchlist.model_.symbols()]
        if not watched:
            return
        if symbol not in watched:
            symbol = self.chart.symbol if self.chart.symbol in watched else watched[0]
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
        if self._pending_time is not None:
            self.chart.show_time(self._pending_time)
            self._pending_time = None

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
        alerts = [a for a in update.alerts if a.symbol in self.watchlist.model_.symbols()]
        if alerts:  # the pipeline may still raise alerts for a symbol that was just removed
            self.alert_log.add_alerts(alerts)
            if self.settings.get("alerts_enabled"):
                self.notifier.notify(alerts)
        if update.snapshots:
            self.watchlist.model_.apply(update.snapshots)
        if update.statuses:
            self.indicators.apply(update.statuses)
        if update.clock_ms:
            self.chart.clock.observe(update.clock_ms, time.monotonic())
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
        elif name == "indicators":
            self._apply_indicators()
        elif name == "stack_profile":
            self._on_stack_profile_changed(value)
        elif name == "remote_profiles":
            self.stack_choice.refill()
        elif name == "timezone":
            tz = _zone(value)
            self.chart.set_timezone(tz)
            self.ticker.tz = self.details.tz = self.alert_log.tz = self.impact_table.model_.tz = tz

    def _apply_indicators(self) -> None:
        specs = []
        for key in self.settings.get("indicators"):
            try:
                specs.append(IndicatorSpec.parse(key))
            except ValueError as exc:
                log.warning("indicator ignored: %s", exc)
        self.indicator_chooser.set_selected(specs)
        self.chart.set_indicators(specs)

    def _apply_watchlist(self) -> None:
        symbols = [w.symbol for w in self.settings.watchlist]
        current = self.chart.symbol or self.settings.get("chart_symbol")
        watched = set(symbols)
        self.watchlist.model_.set_symbols(symbols)
        self.ticker.retain(watched)
        self.alert_log.retain(watched)
        self.impact_table.proxy.set_symbols(watched)
        self.bridge.deliver(self.bridge.pipeline.load_snapshots(symbols), self.watchlist.model_.apply)
        self.bridge.deliver(self.bridge.pipeline.load_articles(symbols), self._on_articles_loaded)
        if symbols:
            self.watchlist.select_symbol(current if current in symbols else symbols[0])

    def _on_articles_loaded(self, articles: list[Article]) -> None:
        watched = set(self.watchlist.model_.symbols())
        relevant = [a for a in articles if a.symbols & watched]  # the watchlist may have changed meanwhile
        self.ticker.add_articles(relevant)
        self._remember(relevant)

    # -- embedded ⇄ stack --------------------------------------------------------------------------

    def _on_stack_endpoints(self, endpoints) -> None:
        self._endpoints = endpoints
        self._grafana_url = endpoints.dashboard_url or self._grafana_url
        if self.grafana is not None:
            self.grafana.set_url(endpoints.dashboard_url, endpoints.grafana_note)

    def _on_stack_running(self, running: bool) -> None:
        if self.grafana is not None:
            self.grafana.refresh()
        if not running and self.mode.currentData() == "stack" and not self.settings.get("stack_profile"):
            self.mode_note.setText("The stack stopped: back to the embedded pipeline.")
            self.mode.setCurrentIndex(0)

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self._grafana_page and self.grafana is None:
            from app.grafana_tab import GrafanaTab  # QtWebEngine (~130 MB): loaded only when the tab is first opened

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
                connection = self._stack_connection()
            except ValueError as exc:
                self.mode_note.setText(f"{exc}; then choose Stack again.")
                self.mode.setCurrentIndex(self.mode.findData(self.controller.mode))
                return
        self.mode_note.setText(f"Switching to the {mode} pipeline…")
        self.mode.setEnabled(False)
        self.controller.switch(mode, connection)

    def _stack_connection(self):
        """This machine's running stack's connection, or (a remote profile) a call that makes it on the
        controller's thread: its secrets come from the keyring, which may wait for its daemon.

        Raises:
            ValueError: this machine's stack is not running.
        """
        name = self.settings.get("stack_profile")
        if not name:
            return connection_for(self._endpoints)
        settings = self.settings
        return lambda: remote_connection(name, settings)

    def _show_stack_choice(self) -> None:
        remote = bool(self.stack_choice.value())
        self.stack_panel.setVisible(not remote)
        self.remote_panel.setVisible(remote)

    def _on_stack_chosen(self, _index: int) -> None:
        """Another stack chosen in the Stack tab: the setting changes, and :meth:`_on_stack_profile_changed` follows."""
        self.settings.set("stack_profile", self.stack_choice.value())

    def _on_stack_profile_changed(self, name: str) -> None:
        """Another stack chosen (Stack tab or settings dialog): show its panel and run the stack pipeline on it
        (a remote one at once; this machine's once the Stack panel started it)."""
        self.stack_choice.refill(name)
        if name:
            self.remote_panel.reload(select=name)
        self._show_stack_choice()
        if self.controller.mode != "stack":
            if name:  # choosing a remote stack means running on it
                self.mode.setCurrentIndex(self.mode.findData("stack"))
            return
        try:
            connection = self._stack_connection()
        except ValueError as exc:
            self.mode_note.setText(f"{exc}; then choose Stack again.")
            return
        self.mode_note.setText(f"Switching to {name or 'this machine’s stack'}…")
        self.mode.setEnabled(False)
        self.controller.switch("stack", connection)

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
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            self._own_size = None
        if isinstance(layout, QByteArray):
            self.restoreState(layout)
        news = state.value("news-splitter")
        if isinstance(news, QByteArray):
            self.news_panel.splitter.restoreState(news)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.stack_panel.shutdown()
        self.remote_panel.shutdown()
        self.controller.shutdown()  # a pipeline switched away from finishes stopping, then the running one stops
        state = self._ui_state()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("state", self.saveState())
        state.setValue("news-splitter", self.news_panel.splitter.saveState())
        state.sync()
        super().closeEvent(event)
