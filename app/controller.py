"""The window's pipeline controller: owns the running pipeline and its bridge, switches and rebuilds it.

The pipeline is built by :func:`backend.pipeline.runtime.build` — the same builder ``collect``
uses. The controller switches between the embedded pipeline and the stack without a restart,
and applies every setting change to the running pipeline: the watchlist and alert rules
directly, anything its sources or processor were built from (feed, subscriptions, hosts,
lateness, retention, demo options) by rebuilding it. Builds and stops run on the controller's
own thread; results come back to the GUI thread through the bridge. The window only lays out
widgets and reacts to :attr:`switched`.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import replace
from typing import Callable

from PySide6.QtCore import QObject, Signal

from app.bridge import PipelineBridge
from backend.pipeline import Pipeline
from backend.pipeline.runtime import FeedChoice, StackConnection, build
from backend.settings import SCHEMA, Settings
from backend.signals.alerts import rules_from_settings

log = logging.getLogger(__name__)

#: Settings the running pipeline was built from: a change rebuilds it (same mode). Declared in the schema.
REBUILD_ON = frozenset(name for name, option in SCHEMA.items() if option.applies == "rebuild")

Builder = Callable[[str, StackConnection | None], Pipeline]


class PipelineController(QObject):
    """See the module docstring. ``pipeline`` (tests) replaces the first build."""

    switched = Signal(object)  # the pipeline now running (after a switch or a rebuild)
    switch_failed = Signal(str)  # why a switch or rebuild did not happen; the old pipeline still runs
    switching = Signal(str)  # what is being built ("stack", "embedded")

    def __init__(self, settings: Settings, feed: FeedChoice, pipeline: Pipeline | None = None,
                 builder: Builder | None = None, stack: StackConnection | None = None,
                 parent: QObject | None = None) -> None:
        """``stack``: start on that running stack instead of the embedded pipeline."""
        super().__init__(parent)
        self.settings = settings
        self.feed = feed
        self._builder = builder or (lambda mode, stack: build(mode, settings, self.feed, stack=stack))
        self.stack = stack
        self.bridge = PipelineBridge(pipeline or self._builder("stack" if stack else "embedded", stack), self)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tickerwire-mode")
        self._busy = False
        self._rebuild_waiting = False  # a setting changed while a build was under way
        settings.on_change(self._on_setting_changed)
        self.apply_alert_rules()

    @property
    def pipeline(self) -> Pipeline:
        return self.bridge.pipeline

    @property
    def mode(self) -> str:
        return self.pipeline.mode

    def start(self) -> None:
        """Start the first pipeline (the caller shows the window right after)."""
        self.pipeline.start()

    def switch(self, mode: str, stack: StackConnection | None = None) -> bool:
        """Build and start the ``mode`` pipeline off the GUI thread, then attach it; False if one is under way."""
        if self._busy:
            return False
        if mode == "stack":
            self.stack = stack or self.stack
        self._busy = True
        self.switching.emit(mode)
        future = self._executor.submit(self._build_started, mode)
        self.bridge.deliver(future, self._attach, self._on_failed)
        return True

    def rebuild(self) -> bool:
        """Rebuild the running pipeline with the current settings (same mode)."""
        return self.switch(self.mode)

    def apply_alert_rules(self) -> None:
        """The alert settings to the running pipeline (at start, on change, after a switch)."""
        self.pipeline.set_alert_rules(rules_from_settings(self.settings.get("alert_rules")),
                                      self.settings.get("alert_max_age_s"))

    def shutdown(self) -> None:
        """Wait for a switch under way and for a replaced pipeline to stop, then stop the running one."""
        self._executor.shutdown(wait=True)
        self.pipeline.stop()

    # -- internals --------------------------------------------------------------------------------

    def _build_started(self, mode: str) -> Pipeline:
        pipeline = self._builder(mode, self.stack if mode == "stack" else None)
        pipeline.start()
        return pipeline

    def _attach(self, pipeline: Pipeline) -> None:
        old = self.bridge.pipeline
        self.bridge.attach(pipeline)
        self._executor.submit(old.stop)
        self._busy = False
        if self._rebuild_waiting:
            self._rebuild_waiting = False
            self.rebuild()
        if pipeline.mode != self.settings.get("mode"):
            self.settings.set("mode", pipeline.mode)
        self.apply_alert_rules()
        self.switched.emit(pipeline)

    def _on_failed(self, exc: BaseException) -> None:
        self._busy = False
        self._rebuild_waiting = False
        log.error("the pipeline could not be built: %s", exc)
        self.switch_failed.emit(str(exc))

    def _on_setting_changed(self, name: str, value) -> None:
        if name == "watchlist":
            self.pipeline.set_watchlist(value)
        elif name in ("alert_rules", "alert_max_age_s"):
            self.apply_alert_rules()
        elif name in REBUILD_ON:
            if name == "demo_speed" and self.feed.kind == "demo":
                self.feed = replace(self.feed, speed=value)
            log.info("setting %s changed: rebuilding the %s pipeline", name, self.mode)
            if not self.rebuild():
                self._rebuild_waiting = True
