"""Status bar indicators: one per source — its state in a trader's words and the age of its last message.

A source's detail is often a raw exception (``socket.gaierror: [Errno -2] Name or service not
known``); the label says what it means (:func:`plain_reason`) and the tooltip — on the label and
anywhere on the status bar — has the full text with messages, rate and reconnects.
"""

from __future__ import annotations

import re
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from app.text import html, rich_tooltip
from backend.sources.base import SourceState, SourceStatus

STALE_AFTER_S = 120.0
MAX_REASON = 70
_COLORS = {"ok": "#26a69a", "warn": "#ffb74d", "bad": "#ef5350", "off": "#888"}

#: Raw error text → what it means for a trader (first match wins).
_REASONS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p, re.I), words) for p, words in (
    (r"gaierror|name or service not known|temporary failure in name resolution|nodename nor servname|getaddrinfo",
     "no internet connection (server name not found)"),
    (r"network is unreachable|no route to host", "no network connection"),
    (r"connection refused|errno 111", "the server refused the connection"),
    (r"timed? ?out|timeout", "the server did not answer in time"),
    (r"ssl|certificate|tls", "a secure connection could not be made (certificate problem)"),
    (r"rejected the api key|http 40[13]|unauthori[sz]ed|forbidden|\bauth", "the API key was rejected — check it in "
     "Settings → API keys"),
    (r"rate limit|http 429|too many requests", "the provider's rate limit was reached; waiting"),
    (r"http 5\d\d|internal server error|bad gateway|service unavailable", "the provider has a server problem"),
    (r"closed the connection|connection lost|connection reset|broken pipe|keepalive|1011",
     "the connection dropped"),
))
_RETRY = re.compile(r"(reconnecting|retrying) in ([\d.]+ ?s)")


def plain_reason(detail: str) -> str:
    """A raw status detail in plain words; details that already are plain words stay as they are."""
    if not detail:
        return ""
    retry = _RETRY.search(detail)
    for pattern, words in _REASONS:
        if pattern.search(detail):
            return words + (f"; {retry.group(1)} in {retry.group(2)}" if retry else "")
    if re.search(r"\w+(Error|Exception)\b|errno|\[Errno|Traceback", detail):
        return "an unexpected error (details in the tooltip)" + (f"; {retry.group(1)} in {retry.group(2)}"
                                                               if retry else "")
    return detail if len(detail) <= MAX_REASON else detail[:MAX_REASON - 1].rstrip() + "…"


def describe(status: SourceStatus, now: float | None = None) -> tuple[str, str]:
    """(text, colour key) for a status: connected / backing off / stale / failed / stopped."""
    age = status.age(now)
    age_text = "no messages yet" if age is None else f"{_age(age)} ago"
    reason = plain_reason(status.detail)
    if status.state is SourceState.RUNNING:
        if age is not None and age > STALE_AFTER_S:
            return f"{status.name}: stale, last message {age_text}", "warn"
        return f"{status.name}: connected · {age_text}", "ok"
    if status.state is SourceState.BACKING_OFF:
        return f"{status.name}: backing off — {reason} · {age_text}", "warn"
    if status.state is SourceState.STARTING:
        return f"{status.name}: starting ({reason})", "warn"
    if status.state is SourceState.FAILED:
        return f"{status.name}: failed — {reason}", "bad"
    return f"{status.name}: stopped{' — ' + reason if reason else ''}", "off"


def details(status: SourceStatus) -> str:
    """The tooltip's text: the full detail and the source's figures."""
    lines = [f"{status.name}: {status.state.value}"]
    if status.detail:
        lines.append(status.detail)
    lines.append(f"{status.messages} messages, {status.rate:.1f}/s, {status.reconnects} reconnects")
    lines += [f"{k}: {v}" for k, v in status.extra.items()]
    return "\n".join(lines)


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
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
                label.setTextFormat(Qt.TextFormat.RichText)
                self._bar.addPermanentWidget(label)
            text, colour = describe(status, now)
            room = max(220, int(self._bar.width() * 0.9) // max(1, len(self._statuses)))
            text = label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, room)
            _set(label, f"<span style='color:{_COLORS[colour]}'>●</span> {html(text)}",
                 rich_tooltip(details(status)))
        if self._statuses:
            tip = rich_tooltip("\n\n".join(details(s) for s in self._statuses.values()))
            if self._bar.toolTip() != tip:
                self._bar.setToolTip(tip)

    def text(self, name: str) -> str:
        label = self._labels.get(name)
        return label.text() if label else ""


def _set(label: QLabel, text: str, tip: str) -> None:
    """Change a label only where it changed (a tooltip being read is not reset every second)."""
    if label.text() != text:
        label.setText(text)
    if label.toolTip() != tip:
        label.setToolTip(tip)
