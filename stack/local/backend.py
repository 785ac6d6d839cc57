"""The stack as local processes, as a :class:`~stack.types.StackBackend`: Kafka, InfluxDB and both Flink jobs.

No Docker, no Grafana: the real Kafka broker, ``influxd`` and the Flink jobs of :mod:`stack.local`
run as child processes of the app, from the artefacts ``python -m stack.local prepare kafka flink
influxdb`` made. Like the Docker backend it plans, then applies: :func:`local_plan` is the ordered
list of services with their logs (pure), :meth:`LocalBackend.start` starts them one at a time and,
on a failure, stops what it started. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from backend.bus.topics import default_topics
from stack.types import Endpoints, Progress, ProgressCallback, ServiceStatus, StackError, StartCancelled


class _LocalService(Protocol):
    running: bool
    pid: int | None

    def stop(self) -> None: ...


@dataclass(frozen=True)
class LocalService:
    """One service of the local stack and the file its output goes to."""

    name: str
    log: Path


def local_plan(data_dir: Path) -> tuple[LocalService, ...]:
    """The local stack's services in start order (Kafka first: the jobs need its topics)."""
    return (LocalService("kafka", data_dir / "kafka" / "broker.log"),
            LocalService("influxdb", data_dir / "influxdb" / "influxd.log"),
            LocalService("flink-job", data_dir / "flink" / "job.log"),
            LocalService("flink-impacts", data_dir / "flink" / "impacts.log"))


class LocalBackend:
    """Kafka, InfluxDB and the Flink jobs as local processes.

    Args:
        data_dir: Holds each service's data and log (``kafka/``, ``influxdb/``, ``flink/``).
        cache: Artefact cache (default :func:`stack.local.cache_dir`).
        influx_bucket: Bucket name the app writes to (InfluxDB 1.8 here: ``"db/rp"``).
        note: Why this backend is the one in use (e.g. "Docker not found…"), for the Stack tab.
    """

    name = "Local processes"

    def __init__(self, data_dir: Path, *, cache: Path | None = None, influx_bucket: str = "tickerwire/autogen",
                 note: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.cache = cache
        self.influx_bucket = influx_bucket
        self.plan = local_plan(self.data_dir)
        self.services = tuple(s.name for s in self.plan)
        self._lock = threading.Lock()
        self._running: dict[str, _LocalService] = {}
        self.note = "\n".join(part for part in (note, self.problems()) if part)

    def problems(self) -> str:
        """What the local processes lack, all at once ('' when everything is prepared)."""
        from stack.local import PrepareMissing, prepare_hint
        from stack.local import flink, influxdb, kafka

        missing = []
        checks = (("kafka", kafka.classpath), ("flink", flink.artefacts), ("influxdb", influxdb.require_binary))
        for component, check in checks:
            try:
                check(self.cache)
            except PrepareMissing:
                missing.append(component)
        if not missing:
            return ""
        return (f"The local processes are not prepared ({', '.join(missing)} missing): run "
                f"`{prepare_hint(' '.join(missing))}` once.")

    def start(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        """Start every service of :attr:`plan` in order; stop them all on a failure or a cancel."""
        from stack.local import PrepareMissing
        from stack.local.flink import IMPACT_JOB_SCRIPT, FlinkError
        from stack.local.influxdb import InfluxServerError
        from stack.local.kafka import BrokerError

        starters: dict[str, Callable[[LocalService], _LocalService]] = {
            "kafka": self._start_kafka, "influxdb": self._start_influxdb,
            "flink-job": lambda s: self._start_flink(s), "flink-impacts": lambda s: self._start_flink(s, IMPACT_JOB_SCRIPT),
        }
        try:
            problems = self.problems()
            if problems:
                raise StackError(problems)
            for service in self.plan:
                if cancel.is_set():
                    raise StartCancelled("the start was cancelled; the services it had started were stopped")
                progress(Progress("start", service.name, f"starting {service.name}"))
                started = starters[service.name](service)
                with self._lock:
                    self._running[service.name] = started
                progress(Progress("ready", service.name, f"{service.name} is running"))
            progress(Progress("ready", "stack", "all services are running"))
        except BaseException as exc:
            progress(Progress("rollback", "stack", "stopping what was started"))
            self.stop(delete_data=False)
            if isinstance(exc, PrepareMissing):
                raise StackError(str(exc)) from exc
            if isinstance(exc, (BrokerError, FlinkError, InfluxServerError, ImportError, OSError)):
                raise StackError(f"the local stack did not start: {exc}") from exc
            raise

    def _start_kafka(self, service: LocalService) -> _LocalService:
        from stack.local.kafka import KafkaBroker

        broker = KafkaBroker(service.log.parent, cache=self.cache)
        broker.start()
        try:
            broker.create_topics(default_topics())
        except Exception:
            broker.stop()
            raise
        return broker

    def _start_influxdb(self, service: LocalService) -> _LocalService:
        from stack.local.influxdb import InfluxServer

        return InfluxServer(root=service.log.parent).start()

    def _start_flink(self, service: LocalService, script: Path | None = None) -> _LocalService:
        from stack.local.flink import JOB_SCRIPT, FlinkJob

        broker = self._running["kafka"]
        job = FlinkJob(broker.bootstrap_servers, service.log, cache=self.cache, script=script or JOB_SCRIPT)
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

    def pids(self) -> dict[str, int]:
        """Process id of each running service (each leads its own session, with its child processes)."""
        with self._lock:
            return {name: service.pid for name, service in self._running.items() if service.pid is not None}

    def logs(self, service: str) -> str:
        logs = {s.name: s.log for s in self.plan}
        if service not in logs:
            raise KeyError(f"no service {service!r} in the local stack (services: {', '.join(self.services)})")
        try:
            return "\n".join(logs[service].read_text(errors="replace").splitlines()[-500:])
        except OSError:
            return f"({service} has written no log yet)"

    def endpoints(self) -> Endpoints:
        with self._lock:
            kafka, influx = self._running.get("kafka"), self._running.get("influxdb")
        return Endpoints(kafka_bootstrap=kafka.bootstrap_servers if kafka else "",
                         influx_url=influx.url if influx else "", influx_bucket=self.influx_bucket if influx else "",
                         grafana_note="Grafana is not part of the local-process stack (it runs only in the Docker "
                                      "stack).")
