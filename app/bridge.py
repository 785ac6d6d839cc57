"""The one QObject bridge between the pipeline (other threads) and the GUI thread.

Pipeline updates arrive on pipeline threads; the bridge merges them while the GUI is
busy and delivers at most one merged :class:`PipelineUpdate` per GUI turn through
``updated`` — so a fast feed can never flood the Qt event queue. Results of the
pipeline's futures (history loads) come back through :meth:`deliver` as callbacks on
the GUI thread (through a :class:`~app.gui_inbox.GuiInbox`: no Python object crosses Qt's
signals from another thread).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from app.gui_inbox import GuiInbox
from backend.pipeline import Pipeline, PipelineUpdate

log = logging.getLogger(__name__)


class PipelineBridge(QObject):
    """Turns pipeline callbacks and futures into Qt signals on the GUI thread."""

    updated = Signal(object)  # PipelineUpdate (merged)
    _wake = Signal()  # carries nothing across threads: the update waits in _pending

    def __init__(self, pipeline: Pipeline, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._pending: PipelineUpdate | None = None
        self._wake.connect(self._deliver_update)
        self._inbox = GuiInbox(self)
        self.attach(pipeline)

    def attach(self, pipeline) -> None:
        """Listen to ``pipeline`` from now on (embedded ⇄ stack switch); a detached one is ignored."""
        self.pipeline = pipeline
        pipeline.add_listener(lambda update: self._on_pipeline_update(update, pipeline))
        with self._lock:
            self._pending = None

    def deliver(self, future: concurrent.futures.Future, on_result: Callable[[Any], None],
                on_error: Callable[[BaseException], None] | None = None) -> None:
        """Call ``on_result(future.result())`` on the GUI thread when the future completes."""
        future.add_done_callback(lambda f: self._inbox.post(lambda: self._on_future_done(f, on_result, on_error)))

    # -- pipeline threads -------------------------------------------------------------------------

    def _on_pipeline_update(self, update: PipelineUpdate, source) -> None:
        if source is not self.pipeline:
            return  # from a pipeline that was switched away from
        with self._lock:
            first = self._pending is None
            self._pending = update if first else merge_updates(self._pending, update)
        if first:
            self._wake.emit()

    # -- GUI thread -------------------------------------------------------------------------------

    @Slot()
    def _deliver_update(self) -> None:
        with self._lock:
            update, self._pending = self._pending, None
        if update is not None:
            self.updated.emit(update)

    def _on_future_done(self, future, on_result, on_error) -> None:
        try:
            result = future.result()
        except BaseException as exc:  # noqa: BLE001 — handed to the caller
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background request failed: %s", exc)
            return
        on_result(result)


def merge_updates(a: PipelineUpdate, b: PipelineUpdate) -> PipelineUpdate:
    """``b`` after ``a``: latest candle per key, latest article per id, latest snapshot per symbol."""
    candles = {c.key: c for c in a.candles}
    candles.update((c.key, c) for c in b.candles)
    articles = {x.id: x for x in a.articles}
    articles.update((x.id, x) for x in b.articles)
    snapshots = {s.symbol: s for s in a.snapshots}
    snapshots.update((s.symbol, s) for s in b.snapshots)
    impacts = {i.key: i for i in a.impacts} | {i.key: i for i in b.impacts}
    entered = [t for t in (a.entered_ns, b.entered_ns) if t]
    return PipelineUpdate(
        candles=list(candles.values()), articles=list(articles.values()), snapshots=list(snapshots.values()),
        statuses=b.statuses or a.statuses, rejected=a.rejected + b.rejected,
        impacts=list(impacts.values()), alerts=a.alerts + b.alerts,
        entered_ns=min(entered) if entered else 0, clock_ms=max(a.clock_ms, b.clock_ms),
    )
