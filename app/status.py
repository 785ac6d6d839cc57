"""Status bar indicators: one per source — state, and the age of its last message."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QStatusBar

from backend.sources.base import SourceState, SourceStatus

STALE_AFTER_S = 120.0
_COLORS = {"ok": "#26a69a", "warn": "#ffb74d", "bad": "#ef5350", "off": "#888"}


def describe(status: SourceStatus, now: float | None = None) -> tuple[str, str]:
    """(text, colour key) for a status: connected / backing off / stale / failed / stopped."""
    age = status.age(now)
    age_text = "no messages yet" if age is None else f"{_age(age)} ago"
    if status.state is SourceState.RUNNING:
        if age is not None and age > STALE_AFTER_S:
            return f"{status.name}: stale, last message {age_text}", "warn"
        return f"{status.name}: connected · {age_text}", "ok"
    if status.state is SourceState.BACKING_OFF:
        return f"{status.name}: backing off ({status.detail}) · {age_text}", "warn"
    if status.state is SourceState.STARTING:
        return f"{status.name}: starting ({status.detail})", "warn"
    if status.state is SourceState.FAILED:
        return f"{status.name}: failed — {status.detail}", "bad"
    return f"{status.name}: stopped{' — ' + status.detail if status.detail else ''}", "off"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class SourceIndicators:
    """Keeps one label per source in a status bar; :meth:`refresh` recomputes ages (1 Hz timer)."""

    def __init__(self, bar: QStatusBar) -> None:
        self._bar = bar
        self._labels: dict[str, QLabel] = {}
        self._statuses: dict[str, SourceStatus] = {}

    def apply(self, statuses: list[SourceStatus]) -> None:
        for status in statuses:
            self._statuses[status.name] = status
        self.refresh()

    def refresh(self) -> None:
        now = time.time()
        for name, status in self._statuses.items():
            label = self._labels.get(name)
            if label is None:
                label = self._labels[name] = QLabel()
                self._bar.addPermanentWidget(label)
            text, colour = describe(status, now)
            label.setText(f"<span style='color:{_COLORS[colour]}'>●</span> {text}")
            label.setToolTip(f"{status.messages} messages, {status.rate:.1f}/s, {status.reconnects} reconnects"
                             + "".join(f"\n{k}: {v}" for k, v in status.extra.items()))

    def text(self, name: str) -> str:
        label = self._labels.get(name)
        return label.text() if label else ""
