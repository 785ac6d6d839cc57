"""Connecting to a Docker engine with docker-py, and telling the user plainly when there is none.

:func:`connect` returns a client that has answered ``/_ping`` or raises :class:`DockerUnavailable`
with what to do; :func:`docker_problem` says in one sentence why Docker cannot be used here ('' when
it can) — the Stack tab shows it, with the local-process alternative, instead of failing later.
"""

from __future__ import annotations

import os

from stack.types import DockerUnavailable

#: What to run instead when there is no Docker engine.
LOCAL_ALTERNATIVE = ("Without Docker the Stack tab runs Kafka, Flink and InfluxDB as local processes "
                     "(prepare them once with `python -m stack.local prepare kafka flink influxdb`).")


def _sdk():
    try:
        import docker
        import docker.errors
        import requests.exceptions
    except ImportError as exc:
        raise DockerUnavailable("the Docker SDK is not installed: reinstall TickerWire (pip install -e .)") from exc
    return docker, requests


def explain(exc: Exception) -> str:
    """The engine's own explanation of an API error, else the exception's text."""
    return str(getattr(exc, "explanation", None) or exc)


def connect(base_url: str | None = None, timeout: int = 60):
    """A docker-py client that has answered ``/_ping``.

    Args:
        base_url: Engine address; default ``DOCKER_HOST`` or the local socket, as the ``docker`` CLI.
        timeout: Seconds an API call may take.

    Raises:
        DockerUnavailable: no SDK, or no engine answers at the address.
    """
    docker, requests = _sdk()
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else docker.from_env(timeout=timeout)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
        raise DockerUnavailable(
            f"Docker not found: no Docker engine answers at {where} ({explain(exc)}). Start Docker (Docker "
            "Desktop, or `sudo systemctl start docker`; on a machine without a registry, `.ci/docker-engine "
            "start`) and make sure your user may use it.") from exc


def docker_problem(base_url: str | None = None) -> str:
    """Why the Docker stack cannot run here ('' when an engine answers), for the Stack tab."""
    try:
        connect(base_url, timeout=3).close()
    except DockerUnavailable as exc:
        return str(exc)
    return ""
