"""Starts the desktop app on the qasync event loop: settings, pipeline, bridge, window."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time

log = logging.getLogger(__name__)


def run_gui(args) -> int:
    """Run the GUI until the window closes (or ``--exit-after``); return the exit code."""
    t0 = time.perf_counter()
    import qasync
    from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.controller import PipelineController
    from app.main_window import MainWindow
    from app.cli import feed_choice, stack_connection
    from backend import secrets
    from backend.settings import Settings

    # QtWebEngine (the Grafana tab) is loaded only when that tab is first opened; a late start needs shared
    # OpenGL contexts, which must be asked for before the application exists.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("TickerWire")
    settings = Settings()
    feed = feed_choice(args, live=bool(secrets.get_key(secrets.POLYGON)))
    if feed.kind == "demo" and not args.speed:
        feed = dataclasses.replace(feed, speed=settings.get("demo_speed"))
    try:
        stack = stack_connection(args)
    except ValueError as exc:
        print(f"tickerwire: {exc}", file=sys.stderr)
        return 2
    controller = PipelineController(settings, feed, stack=stack)
    window = MainWindow(settings, controller)
    controller.start()
    window.show()
    log.info("window visible %.2f s after launch", time.perf_counter() - t0 + _since_process_start())

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)

    def finish() -> None:
        if args.screenshot:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(args.screenshot), "PNG")
            log.info("screenshot saved to %s", args.screenshot)
        window.close()
        app.quit()

    if args.exit_after:
        QTimer.singleShot(int(args.exit_after * 1000), finish)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        controller.shutdown()  # the pipeline in use (a mode switch may have replaced the first); idempotent
        # Delete the window (and any web page in it) while the QApplication still exists:
        # QtWebEngine crashes at exit when its profile outlives a page.
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return 0


def _since_process_start() -> float:
    """Seconds from process start to the GUI code starting (imports, interpreter)."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK") - (time.perf_counter() - _T0))
    except (OSError, ValueError, IndexError):
        return 0.0


_T0 = time.perf_counter()
