"""The Stack panel: start and stop the pipeline's infrastructure, and watch each service.

:class:`StackPanel` drives a :class:`stack.types.StackBackend` (Docker or local processes) — the
same code as ``tickerwire stack`` — and never blocks the GUI thread: every backend call runs on a
small thread pool, and results come back through a queue the GUI thread empties every 50 ms (worker
threads never touch Qt). It shows a Start / Stop / Cancel row with a "delete data" choice, the
backend's note (e.g. "Docker not found" and what the local processes are), one row per service with
its state and health (polled every few seconds), a progress bar per image being built or pulled, the
start's activity log and a service's logs.

Construct it with a factory, which is called once on a worker thread (it may import docker-py
and plan the stack)::

    from stack.docker_backend import DockerBackend
    panel = StackPanel(lambda: DockerBackend(), parent)
    panel.running_changed.connect(on_stack_running)      # True once every service is healthy
    panel.endpoints_ready.connect(on_stack_endpoints)    # stack.types.Endpoints
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from stack.types import Progress, ServiceStatus, StackBackend

#: How often the service table is refreshed while the panel is visible.
STATUS_INTERVAL_MS = 3000
_HEALTH_COLORS = {"healthy": "#26a69a", "starting": "#ffb74d", "unhealthy": "#ef5350"}
_STATE_COLORS = {"running": "#26a69a", "exited": "#ef5350", "dead": "#ef5350", "absent": "#888",
                 "skipped": "#888", "restarting": "#ffb74d"}


#: How often the GUI thread takes the worker threads' results and progress events.
DRAIN_INTERVAL_MS = 50


class StackPanel(QWidget):
    """Start/stop buttons, per-service state and health, pull progress bars, activity and service logs.

    Args:
        backend_factory: Makes the backend; called once, on a worker thread.
        parent: Parent widget.

    Signals:
        state_changed(str): ``loading``, ``idle``, ``starting``, ``running``, ``stopping`` or ``failed``.
        running_changed(bool): The stack became fully up (True) or went down (False).
        endpoints_ready(object): :class:`stack.types.Endpoints` of the running stack.
        error_occurred(str): A start, stop or status call failed; the message is for the user.
    """

    state_changed = Signal(str)
    running_changed = Signal(bool)
    endpoints_ready = Signal(object)
    error_occurred = Signal(str)

    def __init__(self, backend_factory: Callable[[], StackBackend], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factory = backend_factory
        self._backend: StackBackend | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="stack")
        self._cancel = threading.Event()
        self._state = "loading"
        self._status_pending = False
        self._bars: dict[str, QProgressBar] = {}
        # Worker threads never touch Qt: they put results and progress events in this queue, and a timer on
        # the GUI thread takes them out. (A signal emitted on a worker thread takes Qt's connection locks
        # and then waits for the GIL, while the GUI thread, holding the GIL, may wait for one of those locks
        # deleting an object: a deadlock seen with the Docker backend, whose calls take longer.)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = False
        self._build_ui()
        self._timer = QTimer(self)
        self._timer.setInterval(STATUS_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh_status)
        self._drain = QTimer(self)
        self._drain.setInterval(DRAIN_INTERVAL_MS)
        self._drain.timeout.connect(self._on_drain_timeout)
        self._drain.start()
        self._apply_state("loading")
        self._submit("backend", self._factory)

    # --- layout -----------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.backend_label = QLabel("Stack: loading…")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.cancel_button = QPushButton("Cancel")
        self.delete_data = QCheckBox("Delete data on stop")
        self.delete_data.setToolTip("Also delete the stack's volumes: market data, metrics, dashboards' state")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        for widget in (self.backend_label, self.start_button, self.stop_button, self.cancel_button, self.delete_data):
            buttons.addWidget(widget)
        buttons.addStretch(1)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.services = QTableWidget(0, 3)
        self.services.setHorizontalHeaderLabels(["Service", "State", "Health"])
        self.services.verticalHeader().setVisible(False)
        self.services.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.services.horizontalHeader().setStretchLastSection(True)

        self.pulls = QVBoxLayout()
        self.pulls.setContentsMargins(0, 0, 0, 0)

        self.activity = QPlainTextEdit()
        self.activity.setReadOnly(True)
        self.activity.setMaximumBlockCount(2000)
        self.log_service = QComboBox()
        self.log_refresh = QPushButton("Show logs")
        self.log_refresh.clicked.connect(self.request_logs)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        logs_page = QWidget()
        logs_layout = QVBoxLayout(logs_page)
        log_row = QHBoxLayout()
        log_row.addWidget(self.log_service, 1)
        log_row.addWidget(self.log_refresh)
        logs_layout.addLayout(log_row)
        logs_layout.addWidget(self.log_view)
        self.views = QTabWidget()
        self.views.addTab(self.activity, "Activity")
        self.views.addTab(logs_page, "Service logs")

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.services)
        layout.addLayout(self.pulls)
        layout.addWidget(self.views, 1)

    # --- public slots -----------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``loading``, ``idle``, ``starting``, ``running``, ``stopping`` or ``failed``."""
        return self._state

    @Slot()
    def start(self) -> None:
        """Start the stack on a worker thread (ignored unless idle, failed or running-but-degraded)."""
        if self._backend is None or self._state in ("starting", "stopping", "loading"):
            return
        self._cancel = threading.Event()
        self._clear_pulls()
        self.activity.clear()
        self._apply_state("starting")
        cancel, backend = self._cancel, self._backend
        self._submit("start", lambda: backend.start(self._report_progress, cancel))

    @Slot()
    def stop(self) -> None:
        """Stop the stack (deleting its data when the box is ticked) on a worker thread."""
        if self._backend is None or self._state in ("starting", "stopping", "loading"):
            return
        delete, backend = self.delete_data.isChecked(), self._backend
        self._apply_state("stopping")
        self._log(f"stopping the stack{' and deleting its data' if delete else ''}")
        self._submit("stop", lambda: backend.stop(delete))

    @Slot()
    def cancel(self) -> None:
        """Ask a running start to stop at its next step; it rolls back and reports the cancellation."""
        if self._state == "starting":
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self._log("cancelling…")

    @Slot()
    def refresh_status(self) -> None:
        """Ask the backend for every service's status (at most one request in flight)."""
        if self._backend is None or self._status_pending:
            return
        self._status_pending = True
        self._submit("status", self._backend.status)

    @Slot()
    def request_logs(self) -> None:
        """Fetch the logs of the service chosen in the combo box."""
        service = self.log_service.currentText()
        if self._backend is None or not service:
            return
        backend = self._backend
        self._submit("logs", lambda: (service, backend.logs(service)))

    def shutdown(self, wait: bool = False) -> None:
        """Cancel a start in progress and stop the worker threads (does not stop the stack).

        ``wait`` also waits for calls already running (tests, before deleting the panel); the window
        never does, so that closing it never blocks the GUI thread on the Docker engine.
        """
        if self._closing:
            return
        self._closing = True
        self._timer.stop()
        self._drain.stop()  # a call still running reports into the queue, which nobody reads any more
        self._cancel.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _report_progress(self, progress) -> None:
        """Called on worker threads by the backend."""
        if not self._closing:
            self._inbox.put(("progress", progress))

    # --- plumbing ---------------------------------------------------------------------------------------

    def _submit(self, what: str, call: Callable[[], object]) -> None:
        try:
            future = self._pool.submit(call)
        except RuntimeError:  # the pool was shut down: the panel is closing
            return
        inbox = self._inbox
        future.add_done_callback(lambda f: inbox.put((what, f)))

    @Slot()
    def _on_drain_timeout(self) -> None:
        """Hand what the worker threads reported to the GUI's handlers, in the order it came."""
        while not self._closing:
            try:
                what, item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if what == "progress":
                self._on_backend_progress(item)
            else:
                self._on_call_done(what, item)

    def _on_call_done(self, what: str, future: Future) -> None:
        if self._closing or future.cancelled():
            return
        error = future.exception()
        handler = getattr(self, f"_on_{what}_done")
        handler(None if error else future.result(), error)

    def _on_backend_done(self, backend, error) -> None:
        if error:
            self._apply_state("failed")
            self.start_button.setEnabled(False)
            self.stop_button.setEnabled(False)
            self._show_error(f"The stack backend is unavailable: {error}")
            return
        self._backend = backend
        self.backend_label.setText(f"Stack ({backend.name}):")
        self.services.setRowCount(len(backend.services))
        for row, service in enumerate(backend.services):
            self.services.setItem(row, 0, QTableWidgetItem(service))
            self._set_cell(row, 1, "unknown")
            self._set_cell(row, 2, "")
        self.log_service.clear()
        self.log_service.addItems(list(backend.services))
        self._apply_state("idle")
        note = getattr(backend, "note", "")
        if note:
            self.message.setText(note)
            self.message.setStyleSheet("color: #ffb74d;")
        self._timer.start()
        self.refresh_status()

    def _on_start_done(self, _, error) -> None:
        if error:
            self._apply_state("failed")
            self._show_error(str(error))
            self._log(f"start failed: {error}")
        else:
            self._apply_state("running")
            self._submit("endpoints", self._backend.endpoints)
        self.refresh_status()

    def _on_stop_done(self, _, error) -> None:
        if error:
            self._apply_state("failed")
            self._show_error(str(error))
        else:
            self._apply_state("idle")
            self._log("the stack is stopped")
        self.refresh_status()

    def _on_status_done(self, statuses: list[ServiceStatus] | None, error) -> None:
        self._status_pending = False
        if error:
            self.message.setText(f"Status unavailable: {error}")
            return
        rows = {self.services.item(r, 0).text(): r for r in range(self.services.rowCount())}
        for status in statuses:
            row = rows.get(status.service)
            if row is None:
                continue
            self._set_cell(row, 1, status.state + (f" ({status.detail})" if status.detail else ""),
                           _STATE_COLORS.get(status.state))
            self._set_cell(row, 2, status.health, _HEALTH_COLORS.get(status.health))

    def _on_logs_done(self, result, error) -> None:
        if error:
            self.log_view.setPlainText(str(error))
            return
        service, text = result
        if service == self.log_service.currentText():
            self.log_view.setPlainText(text)
            self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())

    def _on_endpoints_done(self, endpoints, error) -> None:
        if not error:
            self.endpoints_ready.emit(endpoints)

    def _on_backend_progress(self, event: Progress) -> None:
        if self._closing:
            return
        if event.phase in ("pull", "build"):
            if event.total:
                bar = self._pull_bar(event.subject)
                bar.setValue(int(1000 * min(event.current or 0, event.total) / event.total))
            if event.phase == "build" and event.current is None and not event.message.startswith(
                    ("building image", "built image", "image ")):
                self.message.setText(event.message[:300])  # a build step's own output: shown, not logged
                return
            if event.phase == "build" or event.total is None or event.current == event.total:
                self._log(event.message)  # build steps; the first and last lines of a pull
        else:
            self._log(event.message)
        if event.phase in ("ready", "rollback", "health"):
            self.refresh_status()
        self.message.setText(event.message)
        self.message.setStyleSheet("")

    def _pull_bar(self, image: str) -> QProgressBar:
        bar = self._bars.get(image)
        if bar is None:
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat(f"{image}  %p%")
            bar.setTextVisible(True)
            self._bars[image] = bar
            self.pulls.addWidget(bar)
        return bar

    def _clear_pulls(self) -> None:
        for bar in self._bars.values():
            self.pulls.removeWidget(bar)
            bar.deleteLater()
        self._bars.clear()

    def _set_cell(self, row: int, column: int, text: str, color: str | None = None) -> None:
        item = QTableWidgetItem(text)
        if color:
            item.setForeground(QColor(color))
        self.services.setItem(row, column, item)

    def _log(self, line: str) -> None:
        self.activity.appendPlainText(line)

    def _show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #ef5350;")
        self.error_occurred.emit(text)

    def _apply_state(self, state: str) -> None:
        was_running = self._state == "running"
        self._state = state
        busy = state in ("loading", "starting", "stopping")
        self.start_button.setEnabled(not busy and state != "running")
        self.stop_button.setEnabled(not busy)
        self.cancel_button.setEnabled(state == "starting")
        self.delete_data.setEnabled(not busy)
        self.state_changed.emit(state)
        if was_running != (state == "running"):
            self.running_changed.emit(state == "running")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)
