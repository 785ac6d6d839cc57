"""Stack mode for the window: which stack backend to drive, and the pipeline built on a running stack.

Docker when a daemon answers; otherwise the local-process backend (Kafka, Flink and
InfluxDB from ``python -m stack.local prepare``). Building the stack pipeline talks to
Kafka and InfluxDB, so callers run :func:`build_stack_pipeline` off the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from backend.settings import Settings, tickerwire_home
from backend.stores.base import StoreError
from backend.wiring import FeedChoice, source_factory
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


def build_stack_pipeline(endpoints: Endpoints, settings: Settings, feed: FeedChoice):
    """A started StackPipeline on a running stack; raises StoreError with a clear message if unreachable.

    Kafka's and InfluxDB's clients are imported here, not at start-up: embedded mode never needs them.
    """
    from backend.stack_pipeline import StackPipeline
    from backend.stores.influx import InfluxSettings
    from stack import credentials

    if not endpoints.kafka_bootstrap or not endpoints.influx_url:
        raise StoreError("the stack is not running: start it in the Stack tab first")
    token = "tickerwire:local"  # the local InfluxDB 1.8 runs without auth
    if endpoints.influx_org:  # InfluxDB 2 in Docker: the token generated for this install
        creds = credentials.load()
        if creds is None:
            raise StoreError("the stack's InfluxDB token is not in the OS keyring; stop the stack with "
                             "'delete data' and start it again to generate new credentials")
        token = creds.influx_token
    influx = InfluxSettings(url=endpoints.influx_url, token=token, org=endpoints.influx_org or "tickerwire",
                            bucket=endpoints.influx_bucket, retention_days=settings.get("hot_retention_days"))
    pipeline = StackPipeline(endpoints.kafka_bootstrap, influx, settings.watchlist, source_factory(settings, feed))
    pipeline.start()
    return pipeline
