"""The Grafana tab on real QtWebEngine: the fallback page, its Start button, and switching to the dashboard.

QtWebEngine renders here with the offscreen platform that tests/conftest.py sets (checked below by
reading pixels of the rendered page), so no X server is needed; as root it runs without its
sandbox (QTWEBENGINE_DISABLE_SANDBOX=1, also from conftest). Grafana itself is not available, so
a local HTTP server plays the two things the tab asks of it: ``/api/health`` and the dashboard page.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from pytestqt.exceptions import TimeoutError

import app.grafana_tab as grafana_tab
from app.grafana_tab import GrafanaTab, kiosk_url

# QtWebEngine's notes about having no GPU here (it falls back to software rendering, which the tests check).
pytestmark = pytest.mark.qt_log_ignore(r"Vulkan", r"GPU", r"RHI", r"QRhiGles2", r"OpenGL", r"GBM")


class FakeGrafana:
    """Answers ``/api/health`` like Grafana and serves a page with a marker for the dashboard path."""

    def __init__(self, port: int = 0) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                if urlsplit(self.path).path == "/api/health":
                    body, kind = b'{"database": "ok", "version": "11.6.0"}', "application/json"
                else:
                    body, kind = b"<html><body><h1 id='marker'>grafana dashboard</h1></body></html>", "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_js(qtbot, tab: GrafanaTab, script: str):
    """Run a script in the page; None when the page navigated before answering (Chromium then drops
    the callback), so that a surrounding ``waitUntil`` simply asks again."""
    result = []
    tab.view.page().runJavaScript(script, 0, result.append)
    try:
        qtbot.waitUntil(lambda: bool(result), timeout=5_000)
    except TimeoutError:
        return None
    return result[0]


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(grafana_tab, "RETRY_MS", 200)


def make_tab(qtbot, url: str) -> GrafanaTab:
    tab = GrafanaTab(url)
    qtbot.addWidget(tab)
    tab.resize(800, 500)
    tab.show()
    return tab


def test_unreachable_grafana_shows_the_local_page_and_its_start_button_emits(qtbot, fast_retry):
    url = f"http://127.0.0.1:{free_port()}/d/tickerwire/tickerwire?orgId=1"
    tab = make_tab(qtbot, url)
    qtbot.waitUntil(lambda: tab.mode == "unreachable", timeout=30_000)
    qtbot.waitUntil(lambda: run_js(qtbot, tab, "document.getElementById('title') !== null"), timeout=30_000)
    assert run_js(qtbot, tab, "document.getElementById('title').textContent") == "Stack not running"
    assert "is not reachable at http://127.0.0.1:" in run_js(qtbot, tab, "document.getElementById('detail').textContent")

    qtbot.waitUntil(lambda: tab.view.grab().toImage().pixelColor(5, 5).name() == "#181b1f", timeout=30_000)

    with qtbot.waitSignal(tab.start_requested, timeout=30_000):
        run_js(qtbot, tab, "document.getElementById('start').click(); true")
    assert tab.mode == "unreachable"  # the click did not navigate away from the page


def test_the_dashboard_loads_in_kiosk_mode_when_grafana_answers(qtbot, fast_retry):
    grafana = FakeGrafana()
    try:
        tab = make_tab(qtbot, f"http://127.0.0.1:{grafana.port}/d/tickerwire/tickerwire?orgId=1")
        qtbot.waitUntil(lambda: tab.mode == "dashboard", timeout=30_000)
        qtbot.waitUntil(lambda: run_js(qtbot, tab, "document.getElementById('marker') !== null"), timeout=30_000)
        assert "/api/health" in grafana.paths
        page = [p for p in grafana.paths if p.startswith("/d/tickerwire")]
        assert page and "orgId=1" in page[0] and "kiosk" in page[0]
    finally:
        grafana.close()


def test_the_tab_follows_grafana_going_away_and_coming_back(qtbot, fast_retry):
    port = free_port()
    tab = make_tab(qtbot, f"http://127.0.0.1:{port}/d/tickerwire/tickerwire")
    qtbot.waitUntil(lambda: tab.mode == "unreachable", timeout=30_000)
    grafana = FakeGrafana(port)  # the stack came up
    try:
        qtbot.waitUntil(lambda: tab.mode == "dashboard", timeout=30_000)
    finally:
        grafana.close()  # and went down again
    qtbot.waitUntil(lambda: tab.mode == "unreachable", timeout=30_000)
    qtbot.waitUntil(lambda: run_js(qtbot, tab, "document.getElementById('title') !== null"), timeout=30_000)


def test_a_stack_without_grafana_is_said_plainly_with_the_reason(qtbot, fast_retry):
    grafana = FakeGrafana()
    try:
        tab = make_tab(qtbot, f"http://127.0.0.1:{grafana.port}/d/tickerwire/tickerwire")
        qtbot.waitUntil(lambda: tab.mode == "dashboard", timeout=30_000)
        note = ("Grafana is not part of this stack: its image grafana/grafana:11.6.0 is not on this engine "
                "and could not be pulled")
        tab.set_url("", note)  # the stack restarted without Grafana: no dashboard URL, a reason
        assert tab.mode == "absent"
        qtbot.waitUntil(lambda: run_js(qtbot, tab, "document.getElementById('title') !== null"), timeout=30_000)
        assert run_js(qtbot, tab, "document.getElementById('title').textContent") == "Grafana is not part of this stack"
        assert run_js(qtbot, tab, "document.getElementById('detail').textContent") == note
        assert run_js(qtbot, tab, "document.getElementById('start') === null")  # nothing to start
        asked = len(grafana.paths)
        qtbot.wait(600)  # several retry periods: no more health checks while the stack has no Grafana
        assert len(grafana.paths) == asked and tab.mode == "absent"
    finally:
        grafana.close()


def test_kiosk_is_added_once():
    assert kiosk_url("http://h:3000/d/x?orgId=1").toString() == "http://h:3000/d/x?orgId=1&kiosk"
    assert kiosk_url("http://h:3000/d/x?orgId=1&kiosk").toString() == "http://h:3000/d/x?orgId=1&kiosk"


def test_the_window_loads_qtwebengine_only_when_the_grafana_tab_opens(tmp_path):
    """QtWebEngine is a browser engine (~130 MB): a window whose Grafana tab is never opened does not load it."""
    import os
    import subprocess
    import sys

    code = ("import sys; import app.main_window, app.gui; "
            "sys.exit(1 if 'PySide6.QtWebEngineWidgets' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TICKERWIRE_HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr


def test_opening_the_grafana_tab_later_starts_qtwebengine_then(main_window, qtbot):
    w = main_window
    w.tabs.setCurrentWidget(w._grafana_page)
    qtbot.waitUntil(lambda: w.grafana is not None, timeout=10_000)
    assert w._grafana_page.layout().indexOf(w.grafana) >= 0
