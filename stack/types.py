"""The stack's vocabulary: progress events, service states, endpoints, errors and the backend interface.

Standard library only, and imported by every other stack module (and by the app even without the
``stack`` extra), so it sits at the bottom of the package: it imports nothing from ``stack``.

:class:`StackBackend` is what the Stack panel and ``tickerwire stack`` drive, always off the GUI
thread: ``start(progress, cancel)`` brings everything up (or raises a :class:`StackError` after
rolling back what it created), ``stop(delete_data)`` brings it down, ``status()`` lists each
service's state, ``logs(service)`` returns its recent output and ``endpoints()`` says where the
host reaches the running services.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable


class StackError(RuntimeError):
    """The stack could not be brought up or down; the message says why and what to do."""


class DockerUnavailable(StackError):
    """No Docker engine answers (not installed, not running, or no permission on its socket)."""


class PortInUse(StackError):
    """A host port the stack publishes is taken by another program."""


class PullFailed(StackError):
    """An image could not be pulled (unknown tag, no network, registry refused)."""


class BuildFailed(StackError):
    """An image did not build; the message names the image, the failing step and the end of its output."""


class ServiceUnhealthy(StackError):
    """A service exited, reported unhealthy, did not become healthy in time, or a post-start step failed."""


class StartCancelled(StackError):
    """The user cancelled the start; what it created was removed."""


@dataclass(frozen=True)
class Progress:
    """One step of a start or stop, for the UI and the command line.

    Attributes:
        phase: ``connect``, ``pull``, ``build``, ``create``, ``start``, ``health``, ``ready``, ``skip``,
            ``stop`` or ``rollback``.
        subject: The image (pull/build) or service the step is about.
        message: A line for the log view.
        current: Bytes (pull) or build steps done so far, when known.
        total: Bytes (pull) or build steps in all, when known.
    """

    phase: str
    subject: str
    message: str
    current: int | None = None
    total: int | None = None


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """A progress callback that drops everything."""


@dataclass(frozen=True)
class ServiceStatus:
    """State of one service.

    Attributes:
        service: The service's name.
        state: Docker's (``running``, ``restarting``, ``exited``…), ``absent`` (no container) or
            ``skipped`` (an optional service this stack runs without; ``detail`` says why).
        health: ``healthy``, ``starting``, ``unhealthy`` or ``""``.
        detail: Exit code, restart count or the reason for a skip.
    """

    service: str
    state: str
    health: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Endpoints:
    """Host addresses of a running stack ('' for what a backend does not run). Never holds a secret.

    Attributes:
        kafka_bootstrap: ``host:port`` of the Kafka listener for the host.
        influx_url: InfluxDB's HTTP API.
        influx_org: InfluxDB 2 organisation ('' for InfluxDB 1.8, which has none).
        influx_bucket: ``"database/retention-policy"`` (InfluxDB 1.8).
        grafana_url: Grafana's address ('' when the stack runs without Grafana).
        dashboard_url: The provisioned dashboard, in kiosk mode ('' without Grafana).
        grafana_note: Why Grafana is absent ('' when it runs).
        catalog_uri: SQLAlchemy URL of the Iceberg SQL catalog, without its password.
        s3_endpoint: The S3 API of the archive's object store.
        s3_region: Region name the S3 clients sign with.
        warehouse: Iceberg warehouse location, e.g. ``s3://warehouse/``.
        flink_ui: Flink's web UI and REST API (read-only: submitting jars is disabled).
    """

    kafka_bootstrap: str = ""
    influx_url: str = ""
    influx_org: str = ""
    influx_bucket: str = ""
    grafana_url: str = ""
    dashboard_url: str = ""
    grafana_note: str = ""
    catalog_uri: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    warehouse: str = ""
    flink_ui: str = ""


@runtime_checkable
class StackBackend(Protocol):
    """What the Stack panel and the command line need from a backend. Every method may block."""

    #: A short name for the UI ("Docker", "Local processes").
    name: str
    #: Service names in start order (the panel's rows).
    services: tuple[str, ...]

    def start(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        """Bring the stack up; raise a StackError (after a rollback) on failure or cancellation."""

    def stop(self, delete_data: bool) -> None:
        """Bring the stack down, deleting its data when asked."""

    def status(self) -> list[ServiceStatus]:
        """Each service's state and health."""

    def logs(self, service: str) -> str:
        """Recent output of one service."""

    def endpoints(self) -> Endpoints:
        """Where the host reaches the services."""
