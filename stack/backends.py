"""One interface over the two ways of running the stack: Docker containers or local processes.

:class:`StackBackend` is what the app's Stack panel drives, always from a worker thread:
``start(progress, cancel)`` brings everything up (or raises a :class:`StackError` after rolling
back), ``stop(delete_data)`` brings it down, ``status()`` lists each service's state and
``logs(service)`` returns its recent output. ``endpoints()`` says where the app reaches the
running services, for rewiring the pipeline. The interface's types (:class:`Progress`,
:class:`ServiceStatus`, :class:`Endpoints`, the :class:`StackError` family) live here and need
only the standard library, so the app imports this module even without the ``stack`` extra.

* :class:`DockerBackend` applies :func:`stack.plan.plan` with :class:`stack.docker_backend.DockerStack`.
* :class:`LocalBackend` runs the real Kafka broker, the Flink job and influxd of :mod:`stack.local`
  as child processes of the app (no Docker, no Grafana; their prepare step must have been run).
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from stack.plan import StackSpec


class StackError(RuntimeError):
    """The stack could not be brought up or down; the message says why and what to do."""


class DockerUnavailable(StackError):
    """No Docker engine answers (not installed, not running, or no permission on its socket)."""


class PortInUse(StackError):
    """A host port the stack publishes is taken by another program."""


class PullFailed(StackError):
    """An image could not be pulled (unknown tag, no network, registry refused)."""


class BuildFailed(StackError):
    """The Flink image did not build."""


class ServiceUnhealthy(StackError):
    """A service exited, reported unhealthy, did not become healthy in time, or a post-start step failed."""


class StartCancelled(StackError):
    """The user cancelled the start; what it created was removed."""


@dataclass(frozen=True)
class Progress:
    """One step of a start or stop, for the UI.

    Attributes:
        phase: ``connect``, ``pull``, ``build``, ``create``, ``start``, ``health``, ``ready``, ``stop`` or ``rollback``.
        subject: The image (pull/build) or service the step is about.
        message: A line for the log view.
        current: Bytes (pull) done so far, when known.
        total: Bytes (pull) in all, when known.
    """

    phase: str
    subject: str
    message: str
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """State of one service: ``state`` is Docker's (``running``, ``exited``…) or ``absent``; ``health`` likewise."""

    service: str
    state: str
    health: str = ""
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """A progress callback that drops everything."""


@dataclass(frozen=True)
class Endpoints:
    """Host addresses of a running stack ('' for a service a backend does not run); no secrets."""

    kafka_bootstrap: str = ""
    influx_url: str = ""
    influx_org: str = ""
    influx_bucket: str = ""
    grafana_url: str = ""
    dashboard_url: str = ""
    iceberg_rest_uri: str = ""
    s3_endpoint: str = ""
    warehouse: str = ""
    flink_ui: str = ""


@runtime_checkable
class StackBackend(Protocol):
    """What the Stack panel needs from a backend. Every method may block: call it off the GUI thread."""

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
        """Where the app reaches the services."""


class DockerBackend:
    """The full stack in Docker containers (Kafka, Flink, InfluxDB, MinIO + Iceberg REST, Grafana).

    Args:
        spec: The stack to plan (default :class:`StackSpec`).
        **options: Passed to :class:`DockerStack` (``base_url``, ``credentials``, timeouts).
    """

    name = "Docker"

    def __init__(self, spec: StackSpec | None = None, **options) -> None:
        from stack.docker_backend import DockerStack  # docker-py and the SDK: the stack extra
        from stack.plan import StackSpec, plan

        self.spec = spec or StackSpec()
        self._stack = DockerStack(plan(self.spec), **options)
        self.services = self._stack.plan.services

    def start(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        self._stack.apply(progress, cancel)

    def stop(self, delete_data: bool) -> None:
        self._stack.teardown(delete_data)

    def status(self) -> list[ServiceStatus]:
        return self._stack.status()

    def logs(self, service: str) -> str:
        return self._stack.logs(service)

    def endpoints(self) -> Endpoints:
        from stack.plan import endpoints

        return endpoints(self.spec)


class _LocalService(Protocol):
    running: bool

    def stop(self) -> None: ...


class LocalBackend:
    """Kafka, the Flink job and InfluxDB as local processes, from the artefacts ``python -m stack.local prepare`` made.

    Args:
        data_dir: Holds each service's data and log (``kafka/``, ``influxdb/``, ``flink/job.log``).
        cache: Artefact cache (default :func:`stack.local.cache_dir`).
        influx_bucket: Bucket name the app writes to (InfluxDB 1.8 here: ``"db/rp"``).
    """

    name = "Local processes"
    services = ("kafka", "influxdb", "flink-job", "flink-impacts")

    def __init__(self, data_dir: Path, *, cache: Path | None = None, influx_bucket: str = "tickerwire/autogen") -> None:
        self.data_dir = Path(data_dir)
        self.cache = cache
        self.influx_bucket = influx_bucket
        self._lock = threading.Lock()
        self._running: dict[str, _LocalService] = {}
        self._logs: dict[str, Path] = {"kafka": self.data_dir / "kafka" / "broker.log",
                                       "influxdb": self.data_dir / "influxdb" / "influxd.log",
                                       "flink-job": self.data_dir / "flink" / "job.log",
                                       "flink-impacts": self.data_dir / "flink" / "impacts.log"}

    def start(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        """Start Kafka (and its topics), InfluxDB, the candle job and the impact job, in that order; stop them all
        on failure."""
        from stack.local import PrepareMissing
        from stack.local.flink import IMPACT_JOB_SCRIPT, FlinkError, FlinkJob
        from stack.local.influxdb import InfluxServer, InfluxServerError
        from stack.local.kafka import BrokerError, KafkaBroker

        steps: list[tuple[str, Callable[[], _LocalService]]] = [
            ("kafka", lambda: self._start_kafka(KafkaBroker)),
            ("influxdb", lambda: InfluxServer(root=self.data_dir / "influxdb").start()),
            ("flink-job", lambda: self._start_flink(FlinkJob)),
            ("flink-impacts", lambda: self._start_flink(FlinkJob, "flink-impacts", script=IMPACT_JOB_SCRIPT)),
        ]
        try:
            for service, starter in steps:
                if cancel.is_set():
                    raise StartCancelled("the start was cancelled; the services it had started were stopped")
                progress(Progress("start", service, f"starting {service}"))
                with self._lock:
                    self._running[service] = starter()
                progress(Progress("ready", service, f"{service} is running"))
            progress(Progress("ready", "stack", "all services are running"))
        except BaseException as exc:
            progress(Progress("rollback", "stack", "stopping what was started"))
            self.stop(delete_data=False)
            if isinstance(exc, PrepareMissing):
                raise StackError(str(exc)) from exc
            if isinstance(exc, (BrokerError, FlinkError, InfluxServerError, ImportError, OSError)):
                raise StackError(f"the local stack did not start: {exc}") from exc
            raise

    def _start_kafka(self, broker_class) -> _LocalService:
        from backend.bus.kafka import default_topics, ensure_topics

        broker = broker_class(self.data_dir / "kafka", cache=self.cache)
        broker.start()
        try:
            ensure_topics(broker.bootstrap_servers, default_topics())
        except Exception:
            broker.stop()
            raise
        return broker

    def _start_flink(self, job_class, service: str = "flink-job", **options) -> _LocalService:
        broker = self._running["kafka"]
        job = job_class(broker.bootstrap_servers, self._logs[service], cache=self.cache, **options)
        job.start()
        return job

    def stop(self, delete_data: bool) -> None:
        """Stop every running service (newest first); delete ``data_dir`` when ``delete_data``."""
        with self._lock:
            running = list(self._running.items())
            self._running.clear()
        for _, service in reversed(running):
            service.stop()
        if delete_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def status(self) -> list[ServiceStatus]:
        with self._lock:
            running = dict(self._running)
        out = []
        for service in self.services:
            process = running.get(service)
            if process is None:
                out.append(ServiceStatus(service, "absent"))
            else:
                alive = process.running if not hasattr(process, "ping") else process.ping()
                out.append(ServiceStatus(service, "running" if alive else "exited",
                                         "healthy" if alive else "unhealthy"))
        return out

    def logs(self, service: str) -> str:
        if service not in self._logs:
            raise KeyError(f"no service {service!r} in the local stack (services: {', '.join(self.services)})")
        try:
            return "\n".join(self._logs[service].read_text(errors="replace").splitlines()[-500:])
        except OSError:
            return f"({service} has written no log yet)"

    def endpoints(self) -> Endpoints:
        with self._lock:
            kafka, influx = self._running.get("kafka"), self._running.get("influxdb")
        return Endpoints(kafka_bootstrap=kafka.bootstrap_servers if kafka else "",
                              influx_url=influx.url if influx else "", influx_bucket=self.influx_bucket)
