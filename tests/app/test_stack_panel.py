"""The Stack panel driving the real Docker backend code on a real engine, with a small stack that starts in seconds.

The stack is two ``sleep`` containers of an image built from the Debian base (so the panel shows a
build's progress), applied by :class:`stack.apply.DockerStack` exactly as the full stack is. The
panel must never block the GUI thread. Without an engine the tab says "Docker not found" and
what the local processes are.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from docker_stack import need_engine, remove_stack_objects, random_credentials
from PySide6.QtCore import Qt

from app.stack_panel import StackPanel
from stack.apply import DockerStack
from stack.local import free_ports
from stack.plan.model import ContainerPlan, HealthCheck, ImageBuild, PortBinding, StackPlan, VolumeMount, VolumePlan
from stack.plan.spec import LABEL, StackSpec
from stack.types import Endpoints

NAME = "twgui"


class DictTree:
    """The small stack's one-file build context."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.contents = files

    def read(self, path: str) -> bytes:
        return self.contents[path]

    def files(self, prefix: str) -> list[str]:
        return sorted(p for p in self.contents if p.startswith(prefix))


class SmallDockerBackend:
    """A :class:`~stack.types.StackBackend` over :class:`DockerStack` with a two-service plan."""

    name = "Docker"

    def __init__(self, base_image: str, *, fail_health: bool = False, slow_s: float = 0.0) -> None:
        marker = str(time.time_ns()) if slow_s else "fixed"  # a fresh tag makes the build really run
        dockerfile = (f"ARG BASE\nFROM ${{BASE}}\nRUN echo building {marker} && sleep {slow_s}\n").encode()
        tree = DictTree({"small/Dockerfile": dockerfile})
        build = ImageBuild("small", f"tickerwire/small:1-{hashlib.sha256(dockerfile).hexdigest()[:12]}",
                           (("Dockerfile", "small/Dockerfile"),), (("BASE", base_image),))
        check = ("false",) if fail_health else ("true",)
        services = tuple(ContainerPlan(
            service=s, name=f"{NAME}-{s}", image=build.tag, build="small",
            command=("sh", "-c", f"echo service {s} started; exec sleep 600"),
            healthcheck=HealthCheck(check, interval_s=1, timeout_s=2, retries=2, start_period_s=0),
            volumes=(VolumeMount(f"{NAME}-{s}-data", "/data"),), depends_on=dep,
            ports=(PortBinding(80, port),)) for (s, dep), port in zip((("a", ()), ("b", ("a",))), free_ports(2)))
        plan = StackPlan(StackSpec(name=NAME, base_image=base_image), f"{NAME}-net", tuple(VolumePlan(v.volumes[0].volume, v.service)
                                                                  for v in services), (build,), services)
        creds = random_credentials()
        self._stack = DockerStack(plan, tree, lambda: creds, health_timeout_s=60, poll_s=0.2, stop_timeout_s=1)
        self.services = plan.services

    def start(self, progress, cancel: threading.Event) -> None:
        self._stack.apply(progress, cancel)

    def stop(self, delete_data: bool) -> None:
        self._stack.teardown(delete_data)

    def status(self):
        return self._stack.status()

    def logs(self, service: str) -> str:
        return self._stack.logs(service)

    def endpoints(self) -> Endpoints:
        return Endpoints(grafana_note="no Grafana in this small stack")


@pytest.fixture(scope="module")
def base_image():
    need_engine()
    from stack.docker_backend import spec_from_environment

    return spec_from_environment().base_image


@pytest.fixture
def engine(base_image):
    from stack.engine import connect

    client = connect()
    yield client
    remove_stack_objects(client, NAME)
    client.close()


def make_panel(qtbot, factory) -> StackPanel:
    panel = StackPanel(factory)
    # Deleted only once its worker threads are done: a panel deleted while a call was still running
    # crashed Qt's event processing in a later test (seen in CI).
    qtbot.addWidget(panel, before_close_func=lambda p: p.shutdown(wait=True))
    panel.show()
    qtbot.waitUntil(lambda: panel.state in ("idle", "failed"), timeout=30_000)
    return panel


def table(panel: StackPanel) -> dict[str, tuple[str, str]]:
    return {panel.services.item(r, 0).text(): (panel.services.item(r, 1).text(), panel.services.item(r, 2).text())
            for r in range(panel.services.rowCount())}


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_start_shows_build_progress_and_healthy_services_then_stop_deletes_data(qtbot, engine, base_image):
    panel = make_panel(qtbot, lambda: SmallDockerBackend(base_image, slow_s=1))
    assert list(table(panel)) == ["a", "b"]
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("absent", "")}, timeout=10_000)
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()

    with qtbot.waitSignal(panel.endpoints_ready, timeout=120_000) as endpoints, \
            qtbot.waitSignal(panel.running_changed, timeout=120_000) as running:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.state == "starting" and not panel.start_button.isEnabled()
    assert running.args == [True] and endpoints.args[0].grafana_note
    assert {bar.value() for bar in panel._bars.values()} == {1000} and "small" in panel._bars
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("running", "healthy")}, timeout=30_000)
    activity = panel.activity.toPlainText()
    assert "small: step 3/" in activity and "all services are healthy" in activity
    assert "small: building " not in activity  # a RUN step's own output is not logged line by line

    panel.log_service.setCurrentText("a")
    qtbot.mouseClick(panel.log_refresh, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "service a started" in panel.log_view.toPlainText(), timeout=10_000)

    panel.delete_data.setChecked(True)
    with qtbot.waitSignal(panel.running_changed, timeout=60_000) as stopped:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert stopped.args == [False]
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=30_000)
    qtbot.waitUntil(lambda: set(table(panel).values()) == {("absent", "")}, timeout=10_000)
    assert not engine.volumes.list(filters={"label": f"{LABEL}={NAME}"})
    panel.shutdown()


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_a_failed_start_shows_the_reason_and_allows_another_try(qtbot, engine, base_image):
    backends = iter([SmallDockerBackend(base_image, fail_health=True), SmallDockerBackend(base_image)])
    panel = make_panel(qtbot, lambda: next(backends))
    with qtbot.waitSignal(panel.error_occurred, timeout=120_000) as error:
        panel.start()
    assert "a is unhealthy" in error.args[0]
    assert panel.state == "failed" and panel.message.text() == error.args[0]
    assert panel.start_button.isEnabled()
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={NAME}"})
    panel.shutdown()


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_cancel_during_a_build_rolls_back_and_never_blocks_the_gui_thread(qtbot, engine, base_image):
    panel = make_panel(qtbot, lambda: SmallDockerBackend(base_image, slow_s=30))
    began = time.monotonic()
    panel.start()
    assert time.monotonic() - began < 0.2  # the click returns at once; the work is on a worker thread
    qtbot.waitUntil(lambda: "small: step 3/" in panel.activity.toPlainText(), timeout=60_000)
    ticks = []
    for _ in range(5):  # the event loop keeps turning while the build runs
        qtbot.wait(20)
        ticks.append(time.monotonic())
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.5
    with qtbot.waitSignal(panel.error_occurred, timeout=60_000) as error:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in error.args[0]
    assert panel.state == "failed"
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={NAME}"})
    assert not engine.networks.list(filters={"label": f"{LABEL}={NAME}"})
    panel.shutdown()


def test_without_docker_the_tab_says_docker_not_found_and_offers_the_local_processes(qtbot, monkeypatch, tmp_path):
    from app.stack_mode import default_backend

    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_ports(1)[0]}")
    panel = make_panel(qtbot, lambda: default_backend(tmp_path))
    assert panel.backend_label.text() == "Stack (Local processes):"
    text = panel.message.text()
    assert text.startswith("Docker not found: no Docker engine answers at tcp://127.0.0.1:")
    assert "Without Docker the Stack tab runs Kafka, Flink and InfluxDB as local processes" in text
    assert list(table(panel)) == ["kafka", "influxdb", "flink-job", "flink-impacts"]
    panel.shutdown()


def test_a_backend_that_cannot_be_made_is_reported(qtbot):
    def broken():
        raise ImportError("the Docker stack needs the Docker SDK: reinstall TickerWire (pip install -e .)")

    panel = StackPanel(broken)
    qtbot.addWidget(panel, before_close_func=lambda p: p.shutdown(wait=True))
    with qtbot.waitSignal(panel.error_occurred, timeout=10_000) as error:
        pass
    assert "reinstall TickerWire (pip install -e .)" in error.args[0]
    assert panel.state == "failed"
    assert not panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    panel.shutdown()
