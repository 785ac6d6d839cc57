"""Remote stacks: edit the profiles of stacks the app did not start, keep their secrets, and test them.

:class:`RemoteStackPanel` shows one :class:`backend.remote_stack.RemoteProfile` at a time — Kafka's
bootstrap servers and login (TLS with a CA file; SASL ``PLAIN``, ``SCRAM-SHA-256``/``512``), InfluxDB's
URL, bucket and token, the Iceberg catalog and its S3 warehouse, Grafana's and Flink's URLs. Fields
are checked by the profile itself (one message naming the field); secrets go to the OS keyring (or
the private file of :mod:`backend.secrets` where there is none), never to the settings file, and are
never shown back: a password box left empty keeps what is stored.

"Test connection" runs :func:`stack.remote.check.check_profile` on a worker thread — it may wait
seconds for a firewall — and the results come back through a :class:`app.gui_inbox.GuiInbox`
(worker threads never touch Qt), one line per endpoint in plain words. Saving secrets and reading
them (the keyring may wait for its daemon) run on the same worker.

:class:`StackChoice` is the "which stack" chooser of the Stack tab and the settings dialog (this
machine's stack, or a remote profile: the ``stack_profile`` setting); :class:`RemoteStacksDialog`
holds the panel for the settings dialog.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from app.gui_inbox import GuiInbox
from backend import remote_stack
from backend.bus.security import MECHANISMS, PROTOCOLS
from backend.remote_stack import SECRET_NAMES, ProfileError, RemoteProfile, RemoteSecrets
from backend.settings import Settings

NEW = "New profile…"
#: The profile's text fields, in form order, with their labels and hints.
TEXT_FIELDS = (
    ("name", "Name", "e.g. desk or confluent"),
    ("kafka_bootstrap", "Kafka bootstrap servers", "host:9093[,host2:9093]"),
    ("kafka_ca_file", "TLS CA file", "PEM file of the brokers' CA (empty: this machine's CAs)"),
    ("kafka_username", "SASL user", ""),
    ("influx_url", "InfluxDB URL", "https://influx.example.com:8086"),
    ("influx_bucket", "InfluxDB bucket", "bucket, or database/retention-policy on 1.8"),
    ("influx_org", "InfluxDB organisation", "(InfluxDB 2 only)"),
    ("catalog_uri", "Iceberg catalog URI", "postgresql+psycopg2://user@host:5432/catalog (no password)"),
    ("warehouse", "Warehouse", "s3://warehouse/"),
    ("s3_endpoint", "S3 endpoint", "https://s3.example.com"),
    ("s3_region", "S3 region", "us-east-1"),
    ("s3_access_key", "S3 access key", ""),
    ("grafana_url", "Grafana URL", "https://grafana.example.com"),
    ("flink_url", "Flink REST URL", "http://flink.example.com:8081 (optional)"),
)
SECRET_LABELS = {"kafka_password": "SASL password", "influx_token": "InfluxDB token",
                 "catalog_password": "Catalog password", "s3_secret_key": "S3 secret key"}
_AFTER = {"kafka_username": "kafka_password", "influx_org": "influx_token", "catalog_uri": "catalog_password",
          "s3_access_key": "s3_secret_key"}
_OK, _FAIL = "#26a69a", "#ef5350"


class RemoteStackPanel(QWidget):
    """Profiles of remote stacks: a chooser, the form, Save / Delete / Test connection, and the findings.

    Args:
        settings: Where the profiles are (``remote_profiles``).
        parent: Parent widget.
        check: Runs the checks (default :func:`stack.remote.check.check_profile`); called on a worker thread.

    Signals:
        profiles_changed(): A profile was saved or deleted.
        checked(object): The findings (``list`` of :class:`stack.remote.check.Finding`) of a Test connection.
        busy_changed(bool): A Test connection or a save is under way.
    """

    profiles_changed = Signal()
    checked = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, settings: Settings, parent: QWidget | None = None,
                 check: Callable[[RemoteProfile, RemoteSecrets], list] | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._check = check
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remote-stack")
        self._inbox = GuiInbox(self)
        self._closing = False

        self.chooser = QComboBox()
        self.edits: dict[str, QLineEdit] = {}
        self.secrets: dict[str, QLineEdit] = {}
        self.protocol = QComboBox()
        self.protocol.addItems(PROTOCOLS)
        self.mechanism = QComboBox()
        self.mechanism.addItems(["", *MECHANISMS])
        self.run_sink = QCheckBox("Run the InfluxDB and archive sinks in this app (off: the server's collector does)")
        form = QFormLayout()
        form.addRow("Profile", self.chooser)
        for name, label, hint in TEXT_FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(hint)
            self.edits[name] = edit
            if name == "kafka_ca_file":
                browse = QPushButton("Browse…")
                browse.setAutoDefault(False)
                browse.clicked.connect(self._browse_ca)
                row = QHBoxLayout()
                row.addWidget(edit, 1)
                row.addWidget(browse)
                form.addRow("Kafka security", self.protocol)
                form.addRow(label, row)
                form.addRow("SASL mechanism", self.mechanism)
            else:
                form.addRow(label, edit)
            if name in _AFTER:
                secret = QLineEdit()
                secret.setEchoMode(QLineEdit.EchoMode.Password)
                self.secrets[_AFTER[name]] = secret
                form.addRow(SECRET_LABELS[_AFTER[name]], secret)
        form.addRow("", self.run_sink)
        self.save_button = QPushButton("Save")
        self.delete_button = QPushButton("Delete")
        self.test_button = QPushButton("Test connection")
        for button in (self.save_button, self.delete_button, self.test_button):
            button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        self.test_button.clicked.connect(self.test_connection)
        buttons = QHBoxLayout()
        for button in (self.save_button, self.delete_button, self.test_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.results = QListWidget()
        self.results.setWordWrap(True)
        self.results.setMinimumHeight(90)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.results, 1)

        self.reload(select=settings.get("stack_profile"))
        self.chooser.currentIndexChanged.connect(self._on_chooser_changed)

    # -- profiles ---------------------------------------------------------------------------------

    def reload(self, select: str = "") -> None:
        """Fill the chooser from the settings and show ``select`` (else the first profile, else a new one)."""
        names = [p.name for p in remote_stack.profiles(self.settings)]
        self.chooser.blockSignals(True)
        self.chooser.clear()
        self.chooser.addItems([*names, NEW])
        index = names.index(select) if select in names else 0
        self.chooser.setCurrentIndex(index)
        self.chooser.blockSignals(False)
        self._on_chooser_changed(index)

    def _on_chooser_changed(self, _index: int) -> None:
        name = self.chooser.currentText()
        profile = next((p for p in remote_stack.profiles(self.settings) if p.name == name), None)
        self.show_profile(profile)

    def show_profile(self, profile: RemoteProfile | None) -> None:
        """Show a profile's fields (secrets are never shown: their boxes say whether one is kept)."""
        profile = profile or RemoteProfile("", "")
        for name, edit in self.edits.items():
            edit.setText(str(getattr(profile, name)))
        self.protocol.setCurrentText(profile.kafka_protocol)
        self.mechanism.setCurrentText(profile.kafka_mechanism)
        self.run_sink.setChecked(profile.run_sink)
        stored = "saved; type to replace it" if profile.name else ""
        for edit in self.secrets.values():
            edit.clear()
            edit.setPlaceholderText(stored)
        self.delete_button.setEnabled(bool(profile.name))
        self.results.clear()
        self._say("")

    def form_profile(self) -> RemoteProfile:
        """The profile the form describes.

        Raises:
            ProfileError: a field is wrong (the message names it).
        """
        data = {name: edit.text().strip() for name, edit in self.edits.items()}
        data.update(kafka_protocol=self.protocol.currentText(), kafka_mechanism=self.mechanism.currentText(),
                    run_sink=self.run_sink.isChecked())
        defaults = {f.name: f.default for f in fields(RemoteProfile)}
        data = {k: v for k, v in data.items() if k in ("name", "kafka_bootstrap") or v != defaults[k]}
        return RemoteProfile.from_dict(data)

    def typed_secrets(self) -> dict[str, str]:
        """The secrets typed in the form (an empty box keeps the stored one)."""
        return {name: edit.text() for name, edit in self.secrets.items() if edit.text()}

    def save(self) -> bool:
        """Save the profile in the settings and its typed secrets in the keyring (on the worker thread)."""
        try:
            profile = self.form_profile()
            remote_stack.save(self.settings, profile)
        except ProfileError as exc:
            self._say(str(exc), error=True)
            return False
        typed = self.typed_secrets()
        self.reload(select=profile.name)
        self.profiles_changed.emit()
        if typed:
            self._run(lambda: remote_stack.secret_store(profile.name).save(typed),
                      lambda _: self._say(f"Saved {profile.name}; its secrets are in "
                                          f"{remote_stack.secret_store(profile.name).location()}."))
        else:
            self._say(f"Saved {profile.name}.")
        return True

    def delete(self) -> None:
        name = self.chooser.currentText()
        if name == NEW:
            return
        remote_stack.remove(self.settings, name)  # settings change on the GUI thread: their listeners are Qt's
        self.reload()
        self.profiles_changed.emit()
        self._run(lambda: remote_stack.forget_secrets(name), lambda _: self._say(f"Deleted {name} and its secrets."))

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The CA that signed the brokers' certificates", "",
                                              "PEM files (*.pem *.crt *.cer);;All files (*)")
        if path:
            self.edits["kafka_ca_file"].setText(path)

    # -- Test connection ------------------------------------------------------------------------

    def test_connection(self) -> bool:
        """Check every endpoint of the form's profile off the GUI thread; False if the form is wrong."""
        try:
            profile = self.form_profile()
        except ProfileError as exc:
            self._say(str(exc), error=True)
            return False
        typed = self.typed_secrets()
        check = self._check
        self.results.clear()
        self._say(f"Testing {profile.name}…")

        def work():
            from stack.remote.check import check_profile

            stored = remote_stack.load_secrets(profile.name).as_dict() if profile.name else {}
            secrets = RemoteSecrets(**{name: typed.get(name) or stored.get(name, "") for name in SECRET_NAMES})
            return (check or check_profile)(profile, secrets)

        self._run(work, self._show_findings)
        return True

    def _show_findings(self, findings: list) -> None:
        for finding in findings:
            item = QListWidgetItem(f"{'✓' if finding.ok else '✗'} {finding.endpoint}: {finding.message}")
            item.setForeground(QColor(_OK if finding.ok else _FAIL))
            item.setToolTip(finding.message)
            self.results.addItem(item)
        failed = [f.endpoint for f in findings if not f.ok]
        self._say(f"Failed: {', '.join(failed)}." if failed else "Every endpoint answers.", error=bool(failed))
        self.checked.emit(findings)

    # -- worker -----------------------------------------------------------------------------------

    def _run(self, work: Callable[[], object], done: Callable[[object], None]) -> None:
        """``work()`` on the worker thread; ``done(result)`` (or the error in words) on the GUI thread."""
        self._set_busy(True)

        def run():
            try:
                result, error = work(), None
            except Exception as exc:  # the keyring, a check's bug: said in the panel, never a dead button
                result, error = None, f"{type(exc).__name__}: {exc}"
            if not self._closing:
                self._inbox.post(lambda: self._finished(done, result, error))

        self._pool.submit(run)

    def _finished(self, done, result, error: str | None) -> None:
        self._set_busy(False)
        if error is not None:
            self._say(error, error=True)
        else:
            done(result)

    def _set_busy(self, busy: bool) -> None:
        for button in (self.save_button, self.delete_button, self.test_button):
            button.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {_FAIL};" if error else "")

    def shutdown(self, wait: bool = False) -> None:
        """Stop the worker (``wait``: also for a check under way — tests, before deleting the panel)."""
        self._closing = True
        self._pool.shutdown(wait=wait, cancel_futures=True)


LOCAL_STACK = "This machine's stack"


class StackChoice(QComboBox):
    """Which stack the stack pipeline uses: this machine's (data '') or a remote profile (data: its name)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.refill(settings.get("stack_profile"))

    def refill(self, select: str | None = None) -> None:
        """List this machine's stack and every profile; keep (or pick) ``select`` without emitting a change."""
        select = self.value() if select is None else select
        self.blockSignals(True)
        self.clear()
        self.addItem(LOCAL_STACK, "")
        for profile in remote_stack.profiles(self.settings):
            self.addItem(f"Remote: {profile.name} ({profile.kafka_bootstrap})", profile.name)
        self.setCurrentIndex(max(0, self.findData(select)))
        self.blockSignals(False)

    def value(self) -> str:
        return self.currentData() or ""


class RemoteStacksDialog(QDialog):
    """The :class:`RemoteStackPanel` in a dialog of its own (from the settings dialog)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Remote stacks")
        self.resize(640, 720)
        self.panel = RemoteStackPanel(settings, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel, 1)
        layout.addWidget(buttons)

    def done(self, result: int) -> None:  # noqa: D401 - Qt API
        self.panel.shutdown()
        super().done(result)
