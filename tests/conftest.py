"""Test-wide setup: offscreen Qt, a private TICKERWIRE_HOME, an in-memory keyring, no real API keys."""

from __future__ import annotations

import gc
import os
import sys

import keyring
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

from PySide6.QtCore import QCoreApplication, Qt  # noqa: E402

# As the app does (app/gui.py): QtWebEngine may start after the application exists (the Grafana tab loads it).
QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)

from helpers import MemoryKeyring  # noqa: E402

#: Real Docker engine fixtures (docker_engine, running_stack) and the secured shared stack (secure_stack.py)
#: for every test directory.
pytest_plugins = ["docker_stack", "secure_stack"]

_EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Each test gets its own data/settings directory and no API keys from the environment."""
    monkeypatch.setenv("TICKERWIRE_HOME", str(tmp_path / "home"))
    for var in ("MASSIVE_API_KEY", "POLYGON_API_KEY", "GUARDIAN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_gui_thread(request):
    """After a Qt test, collect its garbage here, on the GUI thread.

    Closed windows leave Python wrappers of Qt objects in reference cycles. Left to the cyclic GC, they
    may be freed on whichever thread allocates next — a worker thread of the next test (the Stack
    panel's, planning the Docker stack) — and a Qt object destroyed there deadlocks against the GUI
    thread (seen: the suite hung in tests/app with a Docker engine present).
    """
    yield
    if "qtbot" in request.fixturenames:
        gc.collect()


@pytest.fixture
def memory_keyring():
    """Install an in-memory keyring backend for the test; restore the previous one after."""
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)



def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process with pytest's own status once everything is reported.

    QtWebEngine (Chromium) can crash during interpreter teardown when its default profile
    is released after a page (Qt prints "Release of profile requested but WebEnginePage
    still not deleted"), which would turn a green run into a segfault. Every test has run
    and been reported by now; exiting here keeps the run's real status.
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
