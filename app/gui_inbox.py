"""Hands work from any thread to the GUI thread without Python objects crossing Qt's signal machinery.

Emitting a signal that carries Python objects from a non-GUI thread makes Qt copy them while it
holds one of its connection locks, and the copy needs Python's GIL: a GUI thread that holds the
GIL while Qt wants that lock (e.g. deleting an object) deadlocks with it. :class:`GuiInbox` keeps
the objects in a Python queue and wakes the GUI thread with a signal that carries nothing.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class GuiInbox(QObject):
    """``post(call)`` from any thread; ``call()`` runs on the thread this object lives in (the GUI's), in order."""

    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._wake.connect(self._drain)

    def post(self, call: Callable[[], None]) -> None:
        with self._lock:
            first = not self._calls
            self._calls.append(call)
        if first:
            self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                calls = list(self._calls)
                self._calls.clear()
            if not calls:
                return
            for call in calls:
                try:
                    call()
                except Exception:
                    log.exception("a call handed to the GUI thread failed")
