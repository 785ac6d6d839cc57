"""Test-wide setup: offscreen Qt, a private TICKERWIRE_HOME, an in-memory keyring, no real API keys."""

from __future__ import annotations

import os

import keyring
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

from helpers import MemoryKeyring  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Each test gets its own data/settings directory and no API keys from the environment."""
    monkeypatch.setenv("TICKERWIRE_HOME", str(tmp_path / "home"))
    for var in ("MASSIVE_API_KEY", "POLYGON_API_KEY", "GUARDIAN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def memory_keyring():
    """Install an in-memory keyring backend for the test; restore the previous one after."""
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def pytest_sessionfinish(session, exitstatus):
    """Delete every remaining widget (and QtWebEngine page) while the QApplication still exists.

    QtWebEngine crashes at interpreter exit when its profile is released before a page;
    deleting the windows here gives every page a clean end first.
    """
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in app.topLevelWidgets():
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
