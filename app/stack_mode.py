"""Stack mode for the window: which stack backend to drive, and the pipeline built on a running stack.

Docker when an engine answers; otherwise the local-process backend (Kafka, Flink and InfluxDB
from ``python -m stack.local prepare``), whose note says "Docker not found" and what the local
processes are. Building the stack pipeline talks to Kafka and InfluxDB, so callers run
:func:`build_stack_pipeline` off the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from backend.settings import Settings, tickerwire_home
from backend.stores.base import StoreError
from backend.wiring import FeedChoice, source_factory
from stack.types import Endpoints, StackBackend

log = logging.getLogger(__name__)


def default_backend(home: Path | None = None) -> StackBackend:
    """The backend the Stack panel drives (called on the panel's worker thread)."""
    from stack.engine import LOCAL_ALTERNATIVE, docker_problem
    from stack.local.backend import LocalBackend

    problem = docker_problem()
    if not problem:
        from stack.docker_backend import DockerBackend

        return DockerBackend(home=home)
    return LocalBackend((home or tickerwire_home()) / "stack", note=f"{problem}\n{LOCAL_ALTERNATIVE}")


def build_stack_pipeline(endpoints: Endpoints, settings: Settings, feed: FeedChoice):
    """A started StackPipeline on a running stack; raises StoreError with a clear message if unreachable.

    Kafka's and InfluxDB's clients are imported here, not at start-up: embedded mode never needs them.
    """
    from backend.stack_pipeline import StackPipeline
    from backend.stores.influx import InfluxSettings
    from stack import credentials
    from stack.access import StackAccess

    if not endpoints.kafka_bootstrap or not endpoints.influx_url:
        raise StoreError("the stack is not running: start it in the Stack tab first")
    token = "tickerwire:local"  # the local-process InfluxDB runs without authentication
    if endpoints.catalog_uri:  # the Docker stack: InfluxDB with authentication, this install's credentials
        creds = credentials.load()
        if creds is None:
            raise StoreError(f"the stack's credentials are not in {credentials.location()}; stop the stack with "
                             "'delete data' and start it again to generate new ones")
        token = StackAccess(endpoints, creds).influx_token
    influx = InfluxSettings(url=endpoints.influx_url, token=token, org=endpoints.influx_org or "tickerwire",
                            bucket=endpoints.influx_bucket, retention_days=settings.get("hot_retention_days"))
    pipeline = StackPipeline(endpoints.kafka_bootstrap, influx, settings.watchlist, source_factory(settings, feed))
    pipeline.start()
    return pipeline
