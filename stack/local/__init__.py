"""Local-process backend of the stack: real Kafka and Flink without Docker.

Each component has its own module with a ``prepare(cache)`` step (download and
cache what it needs, idempotently) and a runner that starts, waits for and stops
the real service. ``python -m stack.local prepare kafka flink`` runs the prepare
steps; the artefacts live under :func:`cache_dir`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

CACHE_ENV = "TICKERWIRE_CACHE"


class PrepareMissing(RuntimeError):
    """A component's prepared artefacts are missing; the message names the command that makes them."""


def cache_dir() -> Path:
    """Return the artefact cache: ``$TICKERWIRE_CACHE`` or ``~/.cache/tickerwire``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tickerwire"


def prepare_hint(component: str) -> str:
    """The command a user runs to prepare ``component``."""
    return f"python -m stack.local prepare {component}"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (held together while chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
