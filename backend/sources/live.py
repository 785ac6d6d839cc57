"""What the live sources (Polygon/Massive, Guardian) share: status with logged transitions,
API keys read through a provider, secret masking, and a clean, drained stop.

A live source logs exactly one line per state change (``tickerwire collect`` relies on
that), never logs a key (:func:`mask` and :class:`RedactingLogger`), and can be asked to
stop from any thread: it then finishes handing what it holds to the bus and waits until
the pipeline has taken it, so that a stop loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Callable

from backend.sources.base import SourceState, SourceStatus, StatusTracker

log = logging.getLogger(__name__)

KeyProvider = Callable[[], str]
_QUERY_SECRET_RE = re.compile(r"((?:api-key|apiKey|apikey|api_key)=)[^&\s'\"]+", re.IGNORECASE)


def key_provider(key: str | KeyProvider) -> KeyProvider:
    """A callable returning the current key (a fixed string becomes a constant provider)."""
    if callable(key):
        return key
    return lambda: key


def mask(text: str, *secrets: str) -> str:
    """``text`` with every secret and every ``api-key=…`` query value replaced by ``***``."""
    text = _QUERY_SECRET_RE.sub(r"\1***", str(text))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class RedactingLogger(logging.LoggerAdapter):
    """A logger adapter that masks secrets in messages and arguments, and can watch for a message.

    Handed to third-party clients (``websockets`` logs every frame at DEBUG, including the
    auth frame that carries the key).
    """

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...] = (),
                 watch: tuple[str, Callable[[str], None]] | None = None) -> None:
        super().__init__(logger, {})
        self._secrets = secrets
        self._watch = watch

    def log(self, level, msg, *args, **kwargs) -> None:  # noqa: D102 (LoggerAdapter API)
        if self._watch is not None and isinstance(msg, str) and msg.startswith(self._watch[0]):
            try:
                text = msg % args if args else msg
            except (TypeError, ValueError):
                text = msg
            self._watch[1](mask(text, *self._secrets))
        if not self.isEnabledFor(level):
            return
        msg = mask(msg, *self._secrets)
        args = tuple(self._masked(a) for a in args)
        self.logger.log(level, msg, *args, **kwargs)

    def _masked(self, arg):
        """The argument, or its masked text if its text shows a secret (websockets logs Frame objects)."""
        if isinstance(arg, (int, float)):
            return arg
        text = str(arg)
        if any(s and s in text for s in self._secrets):
            return mask(text, *self._secrets)
        return arg


class LiveStatus:
    """A :class:`StatusTracker` that logs one line whenever the state changes."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.tracker = StatusTracker(name)
        self._log = logger
        self._name = name

    @property
    def status(self) -> SourceStatus:
        return self.tracker.status

    @property
    def state(self) -> SourceState:
        return self.tracker.status.state

    def set(self, state: SourceState, detail: str = "", **changes) -> None:
        """Change state (and detail); log the transition once."""
        previous = self.tracker.status.state
        self.tracker.set(state, detail, **changes)
        if state is not previous:
            level = logging.WARNING if state in (SourceState.FAILED, SourceState.BACKING_OFF) else logging.INFO
            self._log.log(level, "%s: %s%s", self._name, state.value, f" — {detail}" if detail else "")

    def update(self, **changes) -> None:
        self.tracker.update(**changes)

    def extra(self, **values) -> None:
        """Merge values into the status's ``extra`` dict (shown in the status bar tooltip)."""
        self.tracker.update(extra={**self.tracker.status.extra, **values})


class StoppableSource:
    """Graceful stop and store acknowledgements for a source running on the pipeline's event loop.

    :meth:`request_stop` may be called from any thread; the source's ``run`` notices it,
    hands everything it holds to the bus, waits until the pipeline has stored it (every
    batch published with :meth:`_when_stored` acknowledged) and returns. :meth:`wait_stopped`
    blocks the calling thread until then.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._unacknowledged = 0
        self._all_acknowledged: asyncio.Event | None = None

    def _bind_loop(self) -> asyncio.Event:
        self._loop = asyncio.get_running_loop()
        self._stopped.clear()
        self._stop_event = asyncio.Event()
        self._all_acknowledged = asyncio.Event()
        self._all_acknowledged.set()
        self._unacknowledged = 0
        if self._stop_requested:
            self._stop_event.set()
        return self._stop_event

    def request_stop(self) -> None:
        """Ask the source to stop cleanly (thread-safe; idempotent)."""
        self._stop_requested = True
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until ``run`` has returned; True if it did within ``timeout``."""
        if self._loop is None:
            return True
        return self._stopped.wait(timeout)

    def _mark_stopped(self) -> None:
        self._stopped.set()

    def _when_stored(self, action: Callable[[bool], None]) -> Callable[[bool], None]:
        """A batch's ``on_stored``: runs ``action(stored)`` on this source's loop (called from any thread).

        Call it on the source's loop when publishing; :meth:`_wait_acknowledged` waits for every such batch.
        """
        loop = self._loop
        self._unacknowledged += 1
        self._all_acknowledged.clear()

        def on_loop(stored: bool) -> None:
            self._unacknowledged -= 1
            if self._unacknowledged == 0:
                self._all_acknowledged.set()
            action(stored)

        def callback(stored: bool) -> None:
            try:
                loop.call_soon_threadsafe(on_loop, stored)
            except RuntimeError:  # the loop is closed: the source stopped without it (a re-fetch covers it)
                pass

        return callback

    async def _wait_acknowledged(self, timeout: float) -> bool:
        """Wait until the pipeline has stored (or given up) every batch published with an acknowledgement."""
        try:
            await asyncio.wait_for(self._all_acknowledged.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("%d batch(es) not confirmed stored after %.0f s; their marks stay behind (re-fetched next "
                        "start)", self._unacknowledged, timeout)
            return False
        return True


class UnavailableSource(StoppableSource):
    """Stands in for a live source that cannot even be built (its module's imports failed).

    It shows ``failed`` with the reason in the status bar and ``collect``'s log, publishes nothing,
    and stops when asked, so the rest of the pipeline (the other source, the store) keeps working.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__()
        self.name = name
        self._status = LiveStatus(name, log)
        self._status.set(SourceState.FAILED, reason)

    @property
    def status(self) -> SourceStatus:
        return self._status.status

    def set_watchlist(self, items: list) -> None:
        """Nothing to subscribe to."""

    async def run(self, bus) -> None:
        stop = self._bind_loop()
        try:
            await stop.wait()
        finally:
            self._mark_stopped()


class MaskingFilter(logging.Filter):
    """A logging filter that masks ``api-key=…`` in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.msg) if isinstance(record.msg, str) else record.msg
        if isinstance(record.args, tuple):
            record.args = tuple(mask(a) if isinstance(a, str) else (mask(str(a)) if _is_url(a) else a)
                                for a in record.args)
        return True


def _is_url(value) -> bool:
    return type(value).__name__ == "URL"  # httpx.URL, without importing httpx here


def mask_logger(name: str) -> None:
    """Make sure a third-party logger (``httpx`` logs every request URL) never shows a query key."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
