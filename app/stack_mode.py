"""Stack mode for the window: which stack backend to drive, and how the pipeline reaches a running stack.

Docker when a daemon answers; otherwise the local-process backend (Kafka, Flink and
InfluxDB from ``python -m stack.local prepare``). The controller builds the stack pipeline
from :func:`connection_for` (with :func:`backend.pipeline.runtime.build`), off the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from backend.pipeline.runtime import StackConnection
from backend.settings import tickerwire_home
from stack.backends import Endpoints, LocalBackend, StackBackend

log = logging.getLogger(__name__)


def docker_available() -> bool:
    """True when a Docker daemon answers a ping (a bare CLI without an engine does not count)."""
    try:
        import docker
        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no docker-py, no socket, daemon down: all mean "no Docker here"
        return False


def default_backend(home: Path | None = None) -> StackBackend:
    """The backend the Stack panel drives (called on the panel's worker thread)."""
    if docker_available():
        from stack.backends import DockerBackend
        return DockerBackend()
    return LocalBackend((home or tickerwire_home()) / "stack")


def connection_for(endpoints: Endpoints | None) -> StackConnection:
    """How the pipeline reaches a running stack: its endpoints plus the credentials kept for it.

    Raises:
        ValueError: the stack is not running, or its credentials are gone (the message says what to do).
    """
    from stack import credentials

    if endpoints is None or not endpoints.kafka_bootstrap or not endpoints.influx_url:
        raise ValueError("Start the stack first (below)")
    token = ""  # the local InfluxDB 1.8 runs without auth
    if endpoints.influx_org:  # InfluxDB in Docker: the token generated for this install
        creds = credentials.load()
        if creds is None:
            raise ValueError("the stack's InfluxDB token is not in the OS keyring; stop the stack with "
                             "'delete data' and start it again to generate new credentials")
        token = creds.influx_token
    return StackConnection(endpoints.kafka_bootstrap, endpoints.influx_url, endpoints.influx_bucket,
                           influx_org=endpoints.influx_org, influx_token=token)
