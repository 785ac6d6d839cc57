"""The Remote stack UI driven for real (offscreen Qt) against the secured local broker and an authenticated influxd:
a profile typed into the Stack tab is saved with its secrets in the keyring, "Test connection" runs off the GUI thread
and shows each endpoint in plain words (a wrong password and an untrusted CA each their own), the settings dialog
offers the profile, and choosing it makes the window's stack pipeline run on that remote stack."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from PySide6.QtCore import Qt, QTimer

from helpers import embedded_pipeline

from app.controller import PipelineController
from app.main_window import MainWindow
from app.remote_stack_panel import RemoteStackPanel
from app.settings_dialog import SettingsDialog
from backend import remote_stack
from backend.pipeline.runtime import FeedChoice
from backend.settings import Settings
from backend.sources.demo import SyntheticSource, demo_start_ms
from backend.watchlist import default_watch_item
from secure_stack import MECHANISM, PASSWORD, USER

pytestmark = [pytest.mark.integration, pytest.mark.gui, pytest.mark.timeout(600),
              pytest.mark.qt_log_ignore(r"Vulkan", r"GPU", r"RHI", r"QRhiGles2", r"OpenGL", r"GBM")]


def _fill(qtbot, panel: RemoteStackPanel, secure_kafka, secured_influx, *, name: str, password: str = PASSWORD,
          ca=None) -> None:
    panel.chooser.setCurrentText("New profile…")
    for field, text in (("name", name), ("kafka_bootstrap", secure_kafka.bootstrap),
                        ("kafka_ca_file", str(ca or secure_kafka.pki.ca)), ("kafka_username", USER),
                        ("influx_url", secured_influx.url), ("influx_bucket", secured_influx.bucket)):
        panel.edits[field].clear()
        qtbot.keyClicks(panel.edits[field], text)
    panel.protocol.setCurrentText("SASL_SSL")
    panel.mechanism.setCurrentText(MECHANISM)
    qtbot.keyClicks(panel.secrets["kafka_password"], password)
    qtbot.keyClicks(panel.secrets["influx_token"], secured_influx.read_token)


def _test_connection(qtbot, panel: RemoteStackPanel) -> tuple[list, float]:
    """Press Test connection; the findings, and the longest the GUI thread went without running its timer."""
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    with qtbot.waitSignal(panel.checked, timeout=60_000) as signal:
        qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
        assert not panel.test_button.isEnabled()  # returned at once; the check runs on the worker
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return signal.args[0], max(gaps, default=0.0)


@pytest.fixture
def panel(qtbot, tmp_path, memory_keyring):
    settings = Settings(tmp_path / "settings.json")
    widget = RemoteStackPanel(settings)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown(wait=True)


def test_save_keeps_secrets_in_the_keyring_and_test_connection_says_ok(qtbot, panel, memory_keyring, secure_kafka,
                                                                       secured_influx, tmp_path):
    _fill(qtbot, panel, secure_kafka, secured_influx, name="desk")
    assert panel.save()
    qtbot.waitUntil(lambda: "secrets are in the OS keyring" in panel.message.text(), timeout=10_000)
    saved = (tmp_path / "settings.json").read_text()
    assert PASSWORD not in saved and secured_influx.read_token not in saved
    assert json.loads(saved)["remote_profiles"][0]["kafka_bootstrap"] == secure_kafka.bootstrap
    assert remote_stack.load_secrets("desk").kafka_password == PASSWORD  # from the (in-memory) keyring
    assert panel.secrets["kafka_password"].text() == ""  # never shown back

    findings, longest_gap = _test_connection(qtbot, panel)  # with the stored secrets (the boxes are empty)
    assert [(f.endpoint, f.ok) for f in findings] == [("Kafka", True), ("InfluxDB", True)]
    lines = [panel.results.item(i).text() for i in range(panel.results.count())]
    assert lines[0].startswith("✓ Kafka: ") and "SASL_SSL, SCRAM-SHA-256 as desk" in lines[0]
    assert lines[1].startswith("✓ InfluxDB: ")
    assert panel.message.text() == "Every endpoint answers."
    print(f"Test connection: longest GUI-thread gap {longest_gap * 1000:.0f} ms (20 ms timer)")
    assert longest_gap < 0.5, f"the GUI thread was blocked for {longest_gap:.2f}s"


@pytest.mark.parametrize("case, expected, problem", [
    ("password", "wrong user name or password", "authentication"),
    ("certificate", "TLS certificate is not trusted by the CA file", "tls"),
])
def test_test_connection_names_what_failed(qtbot, panel, secure_kafka, secured_influx, case, expected, problem):
    before = secure_kafka.broker.failed_logins()
    if case == "password":
        _fill(qtbot, panel, secure_kafka, secured_influx, name="desk", password="nope")
    else:
        _fill(qtbot, panel, secure_kafka, secured_influx, name="desk", ca=secure_kafka.pki.stranger_ca)
    findings, _ = _test_connection(qtbot, panel)
    kafka = findings[0]
    assert (kafka.ok, kafka.problem) == (False, problem)
    line = panel.results.item(0).text()
    assert line.startswith("✗ Kafka: ") and expected in line
    assert panel.message.text() == "Failed: Kafka."
    time.sleep(1)
    assert secure_kafka.broker.failed_logins() - before <= 3


def test_a_wrong_field_is_named_before_anything_is_tried(qtbot, panel):
    qtbot.keyClicks(panel.edits["name"], "desk")
    qtbot.keyClicks(panel.edits["kafka_bootstrap"], "no-port-here")
    assert not panel.test_connection()
    assert "kafka_bootstrap: 'no-port-here' is not host:port" in panel.message.text()
    assert panel.results.count() == 0


def test_choosing_the_remote_profile_runs_the_window_on_that_stack(qtbot, tmp_path, memory_keyring, secure_kafka,
                                                                   secured_influx):
    settings = Settings(tmp_path / "settings.json")
    settings.set("watchlist", [default_watch_item("RUI")])
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", settings.watchlist,
                                 lambda items: [SyntheticSource(items, seed=3, speed=50, history_days=0,
                                                                start_ms=demo_start_ms(1764345600000))])
    window = MainWindow(settings, PipelineController(settings, FeedChoice("demo", speed=50), pipeline))
    qtbot.addWidget(window)
    pipeline.start()
    window.show()
    try:
        # A profile with a wrong password, chosen in the Stack tab: the window says why and stays embedded.
        _fill(qtbot, window.remote_panel, secure_kafka, secured_influx, name="wrong", password="nope")
        assert window.remote_panel.save()
        qtbot.waitUntil(lambda: window.remote_panel.save_button.isEnabled(), timeout=10_000)
        window.stack_choice.setCurrentIndex(window.stack_choice.findData("wrong"))
        qtbot.waitUntil(lambda: window.mode_note.text().startswith("Could not switch"), timeout=60_000)
        assert "refused the login of 'desk' with SCRAM-SHA-256: wrong user name or password" in window.mode_note.text()
        assert window.bridge.pipeline is pipeline and window.mode.currentData() == "embedded"

        name = f"desk-{uuid.uuid4().hex[:4]}"
        _fill(qtbot, window.remote_panel, secure_kafka, secured_influx, name=name)
        assert window.remote_panel.save()
        qtbot.waitUntil(lambda: window.remote_panel.save_button.isEnabled(), timeout=10_000)
        assert window.stack_choice.findData(name) > 0  # the Stack tab's chooser lists it once saved
        # The settings dialog offers it too; choosing it there runs the window on that stack.
        dialog = SettingsDialog(settings, window)
        qtbot.addWidget(dialog)
        dialog.stack_choice.setCurrentIndex(dialog.stack_choice.findData(name))
        dialog.accept()
        assert settings.get("stack_profile") == name
        assert window.stack_choice.value() == name and window.remote_panel.chooser.currentText() == name
        assert not window.remote_panel.isHidden() and window.stack_panel.isHidden()
        qtbot.waitUntil(lambda: getattr(window.bridge.pipeline, "mode", "") == "stack", timeout=120_000)
        processor = window.bridge.pipeline.processor
        assert processor._bootstrap == secure_kafka.bootstrap and processor._security.username == USER
        assert processor._security.password == PASSWORD  # from the keyring, read on the controller's thread
        assert processor.sinks is None  # a desk reads; the server's collector writes
        assert processor.store.settings.token == secured_influx.read_token
        assert window.mode_note.text() == "Running on the stack pipeline."
    finally:
        current = window.bridge.pipeline
        window.close()
        current.stop()
