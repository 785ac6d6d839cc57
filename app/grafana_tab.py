"""The Grafana tab: the stack's dashboard in a web view (kiosk mode), or a local "Stack not running" page.

:class:`GrafanaTab` asks Grafana's ``/api/health`` asynchronously (QNetworkAccessManager: the GUI
thread never waits). When Grafana answers, it loads the dashboard with ``kiosk`` in the URL; when
it does not, it shows a page of its own saying the stack is not running, with a Start button
that emits :attr:`GrafanaTab.start_requested` (the main window connects it to the Stack panel's
``start``). It checks again every few seconds, so the dashboard appears by itself once the stack
is up and the page comes back when Grafana goes away; :meth:`GrafanaTab.refresh` checks at once.
When the running stack has no Grafana (its image could not be had, or the local-process stack),
the tab says so and why (:attr:`stack.types.Endpoints.grafana_note`) instead of offering a Start.

QtWebEngine must be imported before the QApplication exists: import this module (or
``PySide6.QtWebEngineWidgets``) before creating the application.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QTimer, QUrl, QUrlQuery, Signal, Slot
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWebEngineCore import QWebEnginePage
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget

#: The fallback page's Start button links here; the page turns the click into :attr:`GrafanaTab.start_requested`
#: and never loads it. An https URL under the reserved ``.invalid`` domain: QtWebEngine hands links with an
#: unknown scheme to the OS without asking the page, and ``.invalid`` can never resolve to a real host.
START_URL = "https://tickerwire.invalid/stack/start"
#: How often the fallback page checks whether Grafana is back.
RETRY_MS = 5000
HEALTH_TIMEOUT_MS = 2000

_FALLBACK = """<!doctype html>
<html><head><meta charset="utf-8"><title>Stack not running</title>
<style>
 body {{ background:#181b1f; color:#d8d9da; font-family: sans-serif; display:flex; align-items:center;
        justify-content:center; height:100vh; margin:0; }}
 .box {{ text-align:center; max-width:36em; }}
 h1 {{ font-weight:500; }}
 p {{ color:#9fa7b3; }}
 a.start {{ display:inline-block; margin-top:1em; padding:.6em 2em; background:#3d71d9; color:white;
          border-radius:4px; text-decoration:none; font-size:1.1em; }}
</style></head>
<body><div class="box">
 <h1 id="title">Stack not running</h1>
 <p id="detail">Grafana is not reachable at {url}.<br>Start the stack (Kafka, Flink, InfluxDB, Grafana) to see
 the live dashboards here.</p>
 <a class="start" id="start" href="{start}">Start</a>
</div></body></html>
"""


_ABSENT = """<!doctype html>
<html><head><meta charset="utf-8"><title>Grafana is not part of this stack</title>
<style>
 body {{ background:#181b1f; color:#d8d9da; font-family: sans-serif; display:flex; align-items:center;
        justify-content:center; height:100vh; margin:0; }}
 .box {{ text-align:center; max-width:40em; }}
 h1 {{ font-weight:500; }}
 p {{ color:#9fa7b3; }}
</style></head>
<body><div class="box">
 <h1 id="title">Grafana is not part of this stack</h1>
 <p id="detail">{note}</p>
 <p>Grafana is the one service whose image the stack cannot build: it comes only from Docker Hub
 (grafana/grafana). Load that image into Docker (or run where Docker Hub is reachable) and start the
 stack again. The app's own charts show the same candles and news meanwhile.</p>
</div></body></html>
"""


def kiosk_url(url: str) -> QUrl:
    """``url`` with Grafana's ``kiosk`` query item (full-screen panels, no menus)."""
    qurl = QUrl(url)
    if not QUrlQuery(qurl).hasQueryItem("kiosk"):  # a bare ``kiosk``, as Grafana documents it (not ``kiosk=``)
        qurl.setQuery(f"{qurl.query()}&kiosk" if qurl.query() else "kiosk")
    return qurl


class _Page(QWebEnginePage):
    """Turns a navigation to :data:`START_URL` into a call instead of a page load."""

    def __init__(self, on_start, parent=None) -> None:
        super().__init__(parent)
        self._on_start = on_start

    def acceptNavigationRequest(self, url: QUrl, nav_type, is_main_frame: bool) -> bool:  # noqa: N802 - Qt's name
        if url.toString() == START_URL:
            self._on_start()
            return False
        return super().acceptNavigationRequest(url, nav_type, is_main_frame)


class GrafanaTab(QWidget):
    """Grafana's dashboard when the stack runs, a local "Stack not running — Start" page otherwise.

    Args:
        url: The dashboard URL, e.g. ``Endpoints.dashboard_url`` (``kiosk`` is added when missing).
        parent: Parent widget.
        note: Why the running stack has no Grafana ('' when it has one), e.g. ``Endpoints.grafana_note``.

    Signals:
        start_requested(): The user pressed Start on the fallback page.
        mode_changed(str): ``checking``, ``dashboard``, ``unreachable`` or ``absent``.
    """

    start_requested = Signal()
    mode_changed = Signal(str)

    def __init__(self, url: str, parent: QWidget | None = None, note: str = "") -> None:
        super().__init__(parent)
        self._note = note
        self.view = QWebEngineView(self)
        self.view.setPage(_Page(self.start_requested.emit, self.view))
        self.view.loadFinished.connect(self._on_view_load_finished)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._network = QNetworkAccessManager(self)
        self._reply: QNetworkReply | None = None
        self._mode = ""
        self._retry = QTimer(self)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self.refresh)
        self._url = kiosk_url(url)
        self._retry.start()
        self.refresh()

    @property
    def mode(self) -> str:
        """``checking``, ``dashboard``, ``unreachable`` or ``absent``."""
        return self._mode

    @property
    def url(self) -> QUrl:
        """The dashboard URL, with ``kiosk``."""
        return QUrl(self._url)

    def set_url(self, url: str, note: str = "") -> None:
        """Show another dashboard (e.g. after the stack's ports changed) and check it at once; with a
        ``note``, the stack has no Grafana and the tab says why."""
        if url:
            self._url = kiosk_url(url)
        self._note = note
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Ask Grafana's health endpoint; show the dashboard or the fallback page with the answer (or, when the
        stack has no Grafana, the page that says why)."""
        if self._note:
            if self._mode != "absent":
                self._set_mode("absent")
                self.view.stop()
                self.view.setHtml(_ABSENT.format(note=html.escape(self._note)), QUrl("about:blank"))
            return
        if self._reply is not None:
            return
        if not self._mode:
            self._set_mode("checking")
        health = QUrl(f"{self._url.scheme()}://{self._url.authority()}/api/health")
        request = QNetworkRequest(health)
        request.setTransferTimeout(HEALTH_TIMEOUT_MS)
        self._reply = self._network.get(request)
        self._reply.finished.connect(self._on_health_finished)

    @Slot()
    def _on_health_finished(self) -> None:
        reply, self._reply = self._reply, None
        status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        ok = reply.error() == QNetworkReply.NetworkError.NoError and status == 200
        reply.deleteLater()
        if ok:
            if self._mode != "dashboard":
                self._set_mode("dashboard")
                self.view.load(self._url)
        else:
            self._show_fallback()

    def _show_fallback(self, force: bool = False) -> None:
        if self._mode == "unreachable" and not force:
            return
        self._set_mode("unreachable")
        self.view.stop()  # a dashboard load still in flight must not land over the fallback page
        base = f"{self._url.scheme()}://{self._url.authority()}"
        self.view.setHtml(_FALLBACK.format(url=html.escape(base), start=START_URL),
                          QUrl("about:blank"))

    @Slot(bool)
    def _on_view_load_finished(self, ok: bool) -> None:
        if self._mode == "dashboard" and not ok:  # Grafana went away while (or after) loading
            self._show_fallback()
        elif self._mode == "unreachable" and self.view.url().authority() == self._url.authority():
            # A dashboard load that started before Grafana went away finished after the fallback
            # page was set and replaced it (an error page): put the fallback page back.
            self._show_fallback(force=True)

    def _set_mode(self, mode: str) -> None:
        self._mode = mode
        self.mode_changed.emit(mode)
