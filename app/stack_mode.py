"""Stack mode for the window: which stack backend to drive, and how the pipeline reaches a running stack.

Docker when an engine answers; otherwise the local-process backend (Kafka, Flink and InfluxDB
from ``python -m stack.local prepare``), whose note says "Docker not found" and what the local
processes are. The controller builds the stack pipeline from :func:`connection_for` (with
:func:`backend.pipeline.runtime.build`), off the GUI thread.

A stack the app did not start — a team's server or managed services — is a remote profile
(:mod:`backend.remote_stack`); :func:`remote_connection` is its connection, and
:func:`selected_connection` picks the remote one when the ``stack_profile`` setting names a profile.
"""

from __future__ import annotations

import logging
from pathlib import Path

from backend.pipeline.runtime import StackConnection
from backend.settings import tickerwire_home
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


def connection_for(endpoints: Endpoints | None) -> StackConnection:
    """How the pipeline reaches a running stack: its endpoints plus the credentials kept for it.

    The Docker stack (it has an archive catalog) runs InfluxDB with authentication and the Iceberg archive
    on PostgreSQL + S3; the local-process stack has neither.

    Raises:
        ValueError: the stack is not running, or its credentials are gone (the message says what to do).
    """
    from stack import credentials
    from stack.access import StackAccess

    if endpoints is None or not endpoints.kafka_bootstrap or not endpoints.influx_url:
        raise ValueError("Start the stack first (below)")
    if not endpoints.catalog_uri:  # the local-process InfluxDB 1.8 runs without authentication
        return StackConnection(endpoints.kafka_bootstrap, endpoints.influx_url, endpoints.influx_bucket,
                               influx_org=endpoints.influx_org)
    creds = credentials.load()  # the Stack tab's stack: the default name
    if creds is None:
        raise ValueError(f"the stack's credentials are not in {credentials.location()}; stop the stack with "
                         "'delete data' and start it again to generate new ones")
    return connection_from(StackAccess(endpoints, creds))


def remote_connection(name: str, settings=None, *, run_sink: bool | None = None) -> StackConnection:
    """The connection to the remote stack of the profile ``name``, with its secrets from the keyring.

    Nothing is checked here: the pipeline's first step on it is the bounded Kafka preflight
    (:func:`backend.bus.preflight.kafka_preflight`), which names what is wrong.

    Args:
        settings: Where the profiles are (default: ``TICKERWIRE_HOME``'s settings).
        run_sink: Override the profile's ``run_sink``.

    Raises:
        ValueError: no such profile, a wrong field, or the keyring cannot be read (the message says what to do).
    """
    from backend import remote_stack
    from backend.secrets import NoKeyringError
    from backend.settings import Settings

    settings = settings or Settings(tickerwire_home() / "settings.json")
    try:
        profile = remote_stack.find(settings, name)
        secrets = remote_stack.load_secrets(profile.name)
    except (remote_stack.ProfileError, NoKeyringError) as exc:
        raise ValueError(str(exc)) from exc
    log.info("remote stack %r: Kafka %s (%s), InfluxDB %s", profile.name, profile.kafka_bootstrap,
             remote_stack.kafka_security(profile, secrets).describe(), profile.influx_url)
    return remote_stack.connection(profile, secrets, run_sink=run_sink)


def selected_connection(settings, endpoints: Endpoints | None = None) -> StackConnection:
    """The stack the settings select: the remote profile ``stack_profile`` names, else this machine's stack.

    Raises:
        ValueError: see :func:`remote_connection` and :func:`connection_for`.
    """
    name = settings.get("stack_profile")
    return remote_connection(name, settings) if name else connection_for(endpoints)


def connection_from(access) -> StackConnection:
    """The pipeline's :class:`StackConnection` to a Docker stack, from its :class:`stack.access.StackAccess`
    (without an archive when the stack runs none)."""
    e = access.endpoints
    if not e.catalog_uri:
        return StackConnection(e.kafka_bootstrap, e.influx_url, e.influx_bucket, influx_org=e.influx_org,
                               influx_token=access.influx_token)
    return StackConnection(e.kafka_bootstrap, e.influx_url, e.influx_bucket, influx_org=e.influx_org,
                           influx_token=access.influx_token, archive=access.catalog_properties(),
                           archive_where=f"{e.catalog_uri} + {e.warehouse} on {e.s3_endpoint}")


#: Services a pipeline needs running on the stack (the jobs make its candles, InfluxDB keeps them).
NEEDED = ("kafka", "influxdb", "flink-jobmanager", "flink-taskmanager")


def running_connection(home: Path | None = None) -> StackConnection:
    """The connection to the Docker stack ``tickerwire stack up`` started, for the command line.

    Raises:
        ValueError: no engine, or the stack (or one of the services a pipeline needs) is not running;
            the message says which and what to do.
    """
    from stack.docker_backend import DockerBackend
    from stack.engine import docker_problem
    from stack.types import StackError

    problem = docker_problem()
    if problem:
        raise ValueError(f"there is no running stack: {problem}")
    backend = DockerBackend(home=home)
    states = {s.service: s for s in backend.status()}
    down = [f"{name}: {states[name].state if name in states else 'absent'}" for name in NEEDED
            if name not in states or states[name].state != "running"]
    if down:
        raise ValueError(f"the stack is not running ({', '.join(down)}): start it with `tickerwire stack up`")
    try:
        return connection_from(backend.access())
    except StackError as exc:
        raise ValueError(str(exc)) from exc
