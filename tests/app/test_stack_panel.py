"""The Stack panel driving the real Docker backend (docker-py) against the fake Engine API server.

The backend code is the real one; only the engine is played by :mod:`fakes.docker_engine`,
because no Docker engine exists here. The panel must never block the GUI thread.
"""

from __future__ import annotations

import socket
import time

import pytest
from PySide6.QtCore import Qt

from fakes.docker_engine import FakeDockerEngine
from stack.backends import DockerBackend
from stack.credentials import StackCredentials
from stack.plan import Ports, StackSpec

from app.stack_panel import StackPanel

CREDENTIALS = StackCredentials("pw-influx-1", "token-influx-2", "twaccess3", "secret-s3-4", "pw-grafana-5")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.fixture
def engine():
    with FakeDockerEngine() as fake:
        yield fake


def make_panel(qtbot, base_url: str) -> StackPanel:
    spec = StackSpec(name="twgui", ports=Ports(*free_ports(7)))
    panel = StackPanel(lambda: DockerBackend(spec, base_url=base_url, credentials=lambda: CREDENTIALS,
                                             poll_s=0.01, health_timeout_s=10))
    # Deleted only once its worker threads are done: a panel deleted while a call was still running
    # crashed Qt's event processing in a later test (seen in CI).
    qtbot.addWidget(panel, before_close_func=lambda p: p.shutdown(wait=True))
    panel.show()
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    return panel


def table(panel: StackPanel) -> dict[str, tuple[str, str]]:
    return {panel.services.item(r, 0).text(): (panel.services.item(r, 1).text(), panel.services.item(r, 2).text())
            for r in range(panel.services.rowCount())}


def test_start_shows_pull_progress_and_healthy_services_then_stop_deletes_data(qtbot, engine):
    panel = make_panel(qtbot, engine.url)
    assert list(table(panel)) == ["kafka", "minio", "iceberg-rest", "influxdb", "flink-jobmanager",
                                  "flink-taskmanager", "flink-job", "flink-impacts", "grafana"]
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("absent", "")}, timeout=10_000)
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()

    with qtbot.waitSignal(panel.endpoints_ready, timeout=30_000) as endpoints, \
            qtbot.waitSignal(panel.running_changed, timeout=30_000) as running:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.state == "starting" and not panel.start_button.isEnabled()
    assert running.args == [True]
    assert endpoints.args[0].grafana_url.startswith("http://127.0.0.1:")
    assert {bar.value() for bar in panel._bars.values()} == {1000}
    assert set(panel._bars) == {ref for ref in engine.images if not ref.startswith("tickerwire/")}
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("running", "healthy")}, timeout=10_000)
    assert "all services are healthy" in panel.activity.toPlainText()
    assert "pw-influx-1" not in panel.activity.toPlainText()

    panel.log_service.setCurrentText("kafka")
    qtbot.mouseClick(panel.log_refresh, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "started apache/kafka" in panel.log_view.toPlainText(), timeout=10_000)

    panel.delete_data.setChecked(True)
    with qtbot.waitSignal(panel.running_changed, timeout=30_000) as stopped:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert stopped.args == [False]
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("absent", "")}, timeout=10_000)
    assert engine.containers == {} and engine.volumes == {}
    panel.shutdown()


def test_a_failed_start_shows_the_reason_and_allows_another_try(qtbot, engine):
    panel = make_panel(qtbot, engine.url)
    engine.unknown_images.add("influxdb:2.7.12")
    with qtbot.waitSignal(panel.error_occurred, timeout=30_000) as error:
        panel.start()
    assert "pulling influxdb:2.7.12 failed" in error.args[0] and "manifest unknown" in error.args[0]
    assert panel.state == "failed" and panel.message.text() == error.args[0]
    assert panel.start_button.isEnabled() and engine.containers == {}

    engine.unknown_images.clear()
    with qtbot.waitSignal(panel.running_changed, timeout=30_000):
        panel.start()
    assert panel.state == "running"
    panel.shutdown()


def test_cancel_half_way_rolls_back_and_never_blocks_the_gui_thread(qtbot, engine):
    panel = make_panel(qtbot, engine.url)
    engine.pull_delay_s = 0.05  # a slow registry: the start takes seconds
    began = time.monotonic()
    panel.start()
    assert time.monotonic() - began < 0.2  # the click returns at once; the work is on a worker thread
    ticks = []
    qtbot.waitUntil(lambda: bool(panel._bars), timeout=10_000)
    for _ in range(5):  # the event loop keeps turning while the pull runs
        qtbot.wait(20)
        ticks.append(time.monotonic())
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.5
    with qtbot.waitSignal(panel.error_occurred, timeout=30_000) as error:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in error.args[0]
    assert panel.state == "failed" and engine.containers == {} and engine.networks == {}
    panel.shutdown()


def test_no_docker_daemon_is_explained(qtbot):
    dead = free_ports(1)[0]
    panel = make_panel(qtbot, f"tcp://127.0.0.1:{dead}")
    qtbot.waitUntil(lambda: panel.message.text().startswith("Status unavailable: Docker is not reachable"),
                    timeout=10_000)
    with qtbot.waitSignal(panel.error_occurred, timeout=30_000) as error:
        panel.start()
    assert "Docker is not reachable" in error.args[0] and "start Docker" in error.args[0]
    panel.shutdown()


def test_a_backend_that_cannot_be_made_is_reported(qtbot):
    def broken():
        raise ImportError("the Docker stack needs the Docker SDK: pip install 'tickerwire[docker]'")

    panel = StackPanel(broken)
    qtbot.addWidget(panel, before_close_func=lambda p: p.shutdown(wait=True))
    with qtbot.waitSignal(panel.error_occurred, timeout=10_000) as error:
        pass
    assert "pip install 'tickerwire[docker]'" in error.args[0]
    assert panel.state == "failed"
    assert not panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    panel.shutdown()
