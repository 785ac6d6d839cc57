"""The stack as data: a pure, typed plan of what Docker must create, computed from a :class:`StackSpec`.

``plan(spec)`` returns a :class:`StackPlan` — the network, the volumes, the images to
pull or build, and the containers in dependency order, each with its ports (bound to
127.0.0.1 only), environment, volumes, health check, files to copy in before start and
commands to run once it is healthy. Nothing here talks to Docker (see
:mod:`stack.docker_backend`), so every detail is tested without an engine.

Secrets never appear in a plan: an environment value that is a credential is a
:class:`Secret` reference, resolved from the OS keyring only when the plan is applied
(:mod:`stack.credentials`). A plan can therefore be printed, logged and compared.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from stack.backends import Endpoints
from stack.grafana import provisioning_files
from stack.local.flink import FLINK_VERSION, KAFKA_CONNECTOR
from stack.local.kafka import KAFKA_VERSION

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOURCES = REPO_ROOT / "resources"

#: Label put on everything the stack creates; its value is the stack's name.
LABEL = "io.tickerwire.stack"
#: Label naming the service a container or volume belongs to.
SERVICE_LABEL = "io.tickerwire.service"

#: Pinned images (never ``:latest``: a moving tag breaks a working install overnight).
IMAGES = {
    "kafka": f"apache/kafka:{KAFKA_VERSION}",
    "flink": f"flink:{FLINK_VERSION}-scala_2.12-java17",
    "influxdb": "influxdb:2.7.12",
    "grafana": "grafana/grafana:11.6.0",
    "minio": "minio/minio:RELEASE.2025-04-22T22-12-26Z",
    "iceberg-rest": "tabulario/iceberg-rest:1.6.0",
}
#: SHA-256 of the Kafka connector jar the Flink image downloads (Maven Central, checked in the build).
KAFKA_CONNECTOR_SHA256 = "5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,40}$")
_INTERNAL_KAFKA_PORT = 19092
#: Where the job's files live inside the Flink image.
JOB_HOME = "/opt/tickerwire"
#: Checkpoint directory in the Flink containers (a volume; the image creates it owned by the flink user).
CHECKPOINTS = f"{JOB_HOME}/checkpoints"


class PlanError(ValueError):
    """The spec cannot be planned (bad name, port, image tag or a dependency cycle); the message says why."""


@dataclass(frozen=True)
class Secret:
    """A reference to a credential kept in the OS keyring (see :mod:`stack.credentials`)."""

    key: str


EnvValue = Union[str, Secret]


@dataclass(frozen=True)
class Ports:
    """Host ports, all bound to 127.0.0.1."""

    kafka: int = 9092
    flink_ui: int = 8081
    influxdb: int = 8086
    grafana: int = 3000
    minio: int = 9000
    minio_console: int = 9001
    iceberg_rest: int = 8181


@dataclass(frozen=True)
class StackSpec:
    """What the user asks for; everything in the plan derives from it.

    Attributes:
        name: Prefix of every container, volume and the network; also the label value.
        ports: Host ports (127.0.0.1 only).
        influx_org: InfluxDB organisation created at first start.
        influx_bucket: Bucket of the market data (candles, news).
        metrics_bucket: Bucket that receives the pipeline's own metrics (scraped by an InfluxDB task).
        retention_days: Retention of the market bucket (0 = forever).
        warehouse_bucket: MinIO bucket holding the Iceberg warehouse.
        taskmanager_slots: Task slots of the Flink task manager.
        parallelism: Parallelism of the Flink job.
        images: Image per service; every tag must be an exact version.
    """

    name: str = "tickerwire"
    ports: Ports = field(default_factory=Ports)
    influx_org: str = "tickerwire"
    influx_bucket: str = "market"
    metrics_bucket: str = "pipeline"
    retention_days: int = 7
    warehouse_bucket: str = "warehouse"
    taskmanager_slots: int = 2
    parallelism: int = 1
    images: dict[str, str] = field(default_factory=lambda: dict(IMAGES))


@dataclass(frozen=True)
class PortBinding:
    """A container port published on the host (always on 127.0.0.1)."""

    container_port: int
    host_port: int
    host_ip: str = "127.0.0.1"
    protocol: str = "tcp"

    @property
    def key(self) -> str:
        """Docker's ``"<port>/<protocol>"`` notation."""
        return f"{self.container_port}/{self.protocol}"


@dataclass(frozen=True)
class HealthCheck:
    """A Docker health check (``CMD`` form: no shell unless the command asks for one)."""

    test: tuple[str, ...]
    interval_s: float = 5.0
    timeout_s: float = 5.0
    retries: int = 24
    start_period_s: float = 10.0

    def to_docker(self) -> dict:
        """The ``Healthcheck`` object of the Engine API (durations in nanoseconds)."""
        ns = 1_000_000_000
        return {"test": ["CMD", *self.test], "interval": int(self.interval_s * ns), "timeout": int(self.timeout_s * ns),
                "retries": self.retries, "start_period": int(self.start_period_s * ns)}


@dataclass(frozen=True)
class VolumeMount:
    """A named volume mounted into a container."""

    volume: str
    path: str


@dataclass(frozen=True)
class FileCopy:
    """A generated text file copied into the container after create and before start (no secrets)."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class ExecStep:
    """A command run in a container once it is healthy (``sh -c`` scripts read secrets from the env)."""

    description: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class ImageBuild:
    """An image built from ``resources/``: the Dockerfile plus the files copied into the build context.

    Attributes:
        tag: Image tag, ending in a digest of the context so a change to the job rebuilds it.
        context: Archive path in the build context -> file under the repository root.
        buildargs: ``ARG`` values (versions, URLs and checksums; never secrets).
    """

    service: str
    tag: str
    context: tuple[tuple[str, str], ...]
    buildargs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ContainerPlan:
    """One container of the stack."""

    service: str
    name: str
    image: str
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, EnvValue], ...] = ()
    ports: tuple[PortBinding, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    healthcheck: HealthCheck | None = None
    depends_on: tuple[str, ...] = ()
    files: tuple[FileCopy, ...] = ()
    post_start: tuple[ExecStep, ...] = ()
    user: str = ""

    def env_dict(self) -> dict[str, EnvValue]:
        """The environment as a dict (values may be :class:`Secret` references)."""
        return dict(self.env)

    def secrets(self) -> set[str]:
        """Keys of the credentials this container needs."""
        return {value.key for _, value in self.env if isinstance(value, Secret)}


@dataclass(frozen=True)
class VolumePlan:
    """A named volume that holds a service's data (kept on stop unless the user deletes data)."""

    name: str
    service: str


@dataclass(frozen=True)
class StackPlan:
    """Everything :mod:`stack.docker_backend` does, in order."""

    spec: StackSpec
    network: str
    volumes: tuple[VolumePlan, ...]
    pulls: tuple[str, ...]
    builds: tuple[ImageBuild, ...]
    containers: tuple[ContainerPlan, ...]

    @property
    def services(self) -> tuple[str, ...]:
        """Service names in start order."""
        return tuple(c.service for c in self.containers)

    def container(self, service: str) -> ContainerPlan:
        """The container of ``service``.

        Raises:
            KeyError: no such service.
        """
        for container in self.containers:
            if container.service == service:
                return container
        raise KeyError(f"no service {service!r} in the stack (services: {', '.join(self.services)})")

    def host_ports(self) -> tuple[tuple[str, PortBinding], ...]:
        """(service, binding) for every published port."""
        return tuple((c.service, p) for c in self.containers for p in c.ports)


def validate(spec: StackSpec) -> None:
    """Check a spec before planning.

    Raises:
        PlanError: a bad name, a port out of range or used twice, a missing or floating image tag,
            a bad bucket name or a non-positive slot/parallelism count.
    """
    if not _NAME_RE.match(spec.name):
        raise PlanError(f"stack name {spec.name!r} must be lower-case letters, digits, '.', '_' or '-' "
                        "(at most 41 characters, starting with a letter or digit)")
    ports = vars(spec.ports)
    for label, port in ports.items():
        if not isinstance(port, int) or not 1024 <= port <= 65535:
            raise PlanError(f"port {label}={port!r} must be an integer between 1024 and 65535")
    seen: dict[int, str] = {}
    for label, port in ports.items():
        if port in seen:
            raise PlanError(f"port {port} is given to both {seen[port]} and {label}")
        seen[port] = label
    missing = sorted(set(IMAGES) - set(spec.images))
    if missing:
        raise PlanError(f"no image given for: {', '.join(missing)}")
    for service, ref in spec.images.items():
        check_pinned(service, ref)
    for label, bucket in (("influx_bucket", spec.influx_bucket), ("metrics_bucket", spec.metrics_bucket),
                          ("influx_org", spec.influx_org)):
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", bucket):
            raise PlanError(f"{label} {bucket!r} must be letters, digits, '.', '_' or '-'")
    if not re.match(r"^[a-z0-9][a-z0-9.-]{2,62}$", spec.warehouse_bucket):
        raise PlanError(f"warehouse_bucket {spec.warehouse_bucket!r} is not a valid S3 bucket name")
    if spec.influx_bucket == spec.metrics_bucket:
        raise PlanError("influx_bucket and metrics_bucket must differ")
    if spec.taskmanager_slots < 1 or spec.parallelism < 1:
        raise PlanError("taskmanager_slots and parallelism must be at least 1")
    if spec.parallelism + 1 > spec.taskmanager_slots:
        raise PlanError(f"the candle job's parallelism {spec.parallelism} and the impact job need "
                        f"{spec.parallelism + 1} task slots (taskmanager_slots={spec.taskmanager_slots})")
    if spec.retention_days < 0:
        raise PlanError("retention_days must be 0 (forever) or more")


def check_pinned(service: str, ref: str) -> None:
    """Require an exact version tag.

    Raises:
        PlanError: no tag, ``latest``, or a digest-less floating tag such as ``2`` or ``2.7``.
    """
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag or not tag:
        raise PlanError(f"image {ref!r} for {service} has no tag: pin an exact version")
    if tag == "latest" or not re.search(r"\d+\.\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}", tag):
        raise PlanError(f"image {ref!r} for {service} is not pinned to an exact version (x.y.z)")


def start_order(containers: list[ContainerPlan]) -> list[ContainerPlan]:
    """Containers ordered so that each starts after what it depends on (stable otherwise).

    Raises:
        PlanError: an unknown dependency or a cycle.
    """
    by_name = {c.service: c for c in containers}
    for container in containers:
        for dep in container.depends_on:
            if dep not in by_name:
                raise PlanError(f"{container.service} depends on unknown service {dep!r}")
    ordered: list[ContainerPlan] = []
    state: dict[str, str] = {}

    def visit(service: str, path: tuple[str, ...]) -> None:
        if state.get(service) == "done":
            return
        if state.get(service) == "visiting":
            raise PlanError(f"dependency cycle: {' -> '.join((*path, service))}")
        state[service] = "visiting"
        for dep in by_name[service].depends_on:
            visit(dep, (*path, service))
        state[service] = "done"
        ordered.append(by_name[service])

    for container in containers:
        visit(container.service, ())
    return ordered


def plan(spec: StackSpec | None = None) -> StackPlan:
    """Compute the plan for ``spec`` (default :class:`StackSpec`).

    Raises:
        PlanError: the spec is invalid (see :func:`validate`).
    """
    spec = spec or StackSpec()
    validate(spec)
    n = _Names(spec.name)
    flink = flink_build(spec)
    containers = [
        _kafka(spec, n), _minio(spec, n), _iceberg_rest(spec, n), _influxdb(spec, n),
        _flink_jobmanager(spec, n, flink.tag), _flink_taskmanager(spec, n, flink.tag), _flink_job(spec, n, flink.tag),
        _flink_impact_job(spec, n, flink.tag),
        _grafana(spec, n),
    ]
    ordered = start_order(containers)
    volumes = tuple({m.volume: VolumePlan(m.volume, c.service) for c in ordered for m in c.volumes}.values())
    pulls = tuple(dict.fromkeys(c.image for c in ordered if c.image != flink.tag))
    pulls = tuple(dict.fromkeys((*pulls, spec.images["flink"])))  # the Flink base image is pulled, then built on
    return StackPlan(spec, n.network, volumes, pulls, (flink,), tuple(ordered))


def endpoints(spec: StackSpec) -> Endpoints:
    """The host-side addresses of the stack's services."""
    p = spec.ports
    grafana = f"http://127.0.0.1:{p.grafana}"
    from stack.grafana import DASHBOARD_UID

    return Endpoints(
        kafka_bootstrap=f"127.0.0.1:{p.kafka}", influx_url=f"http://127.0.0.1:{p.influxdb}",
        influx_org=spec.influx_org, influx_bucket=spec.influx_bucket, grafana_url=grafana,
        dashboard_url=f"{grafana}/d/{DASHBOARD_UID}/tickerwire?orgId=1&kiosk",
        iceberg_rest_uri=f"http://127.0.0.1:{p.iceberg_rest}", s3_endpoint=f"http://127.0.0.1:{p.minio}",
        warehouse=f"s3://{spec.warehouse_bucket}/", flink_ui=f"http://127.0.0.1:{p.flink_ui}",
    )


# --- services -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    stack: str

    @property
    def network(self) -> str:
        return f"{self.stack}-net"

    def container(self, service: str) -> str:
        return f"{self.stack}-{service}"

    def volume(self, what: str) -> str:
        return f"{self.stack}-{what}"


def _kafka_cluster_id(stack: str) -> str:
    """A stable KRaft cluster id per stack name (22 characters of URL-safe base64 of a UUID)."""
    return base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_URL, f"tickerwire:{stack}").bytes).rstrip(b"=").decode()


def _kafka(spec: StackSpec, n: _Names) -> ContainerPlan:
    host = n.container("kafka")
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "CLUSTER_ID": _kafka_cluster_id(spec.name),
        "KAFKA_LISTENERS": f"INTERNAL://:{_INTERNAL_KAFKA_PORT},EXTERNAL://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://{host}:{_INTERNAL_KAFKA_PORT},"
                                      f"EXTERNAL://127.0.0.1:{spec.ports.kafka}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@{host}:9093",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xmx512m -Xms512m",
    }
    bootstrap = f"localhost:{_INTERNAL_KAFKA_PORT}"
    return ContainerPlan(
        service="kafka", name=host, image=spec.images["kafka"], env=tuple(env.items()),
        ports=(PortBinding(9092, spec.ports.kafka),),
        volumes=(VolumeMount(n.volume("kafka-data"), "/var/lib/kafka/data"),),
        # The volume's mount point is created root-owned; the broker's data directory must be writable.
        user="root",
        healthcheck=HealthCheck(("/opt/kafka/bin/kafka-broker-api-versions.sh", "--bootstrap-server", bootstrap),
                                interval_s=5, timeout_s=20, retries=24, start_period_s=15),
        post_start=(ExecStep("create the pipeline's topics", ("sh", "-c", _topic_script(bootstrap))),),
    )


def _topic_script(bootstrap: str) -> str:
    """Shell commands creating the bus topics with the partitions and retention :mod:`backend.bus.kafka` uses."""
    from backend.bus.kafka import default_topics  # imported here: confluent-kafka belongs to the stack extra

    commands = ["set -e"]
    for topic in default_topics():
        policy = "compact,delete" if topic.compact else "delete"
        commands.append(
            f"/opt/kafka/bin/kafka-topics.sh --bootstrap-server {bootstrap} --create --if-not-exists "
            f"--topic {topic.name} --partitions {topic.partitions} --replication-factor 1 "
            f"--config retention.ms={topic.retention_ms} --config cleanup.policy={policy}")
    return "\n".join(commands)


def _minio(spec: StackSpec, n: _Names) -> ContainerPlan:
    bucket_script = ('set -e\nmc alias set local http://localhost:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" '
                     f'>/dev/null\nmc mb --ignore-existing local/{spec.warehouse_bucket}')
    return ContainerPlan(
        service="minio", name=n.container("minio"), image=spec.images["minio"],
        command=("server", "/data", "--console-address", ":9001"),
        env=(("MINIO_ROOT_USER", Secret("s3_access_key")), ("MINIO_ROOT_PASSWORD", Secret("s3_secret_key")),
             ("MINIO_BROWSER_REDIRECT", "false")),
        ports=(PortBinding(9000, spec.ports.minio), PortBinding(9001, spec.ports.minio_console)),
        volumes=(VolumeMount(n.volume("minio-data"), "/data"),),
        healthcheck=HealthCheck(("mc", "ready", "local"), interval_s=3, retries=40, start_period_s=5),
        post_start=(ExecStep(f"create the {spec.warehouse_bucket} bucket", ("sh", "-c", bucket_script)),),
    )


def _iceberg_rest(spec: StackSpec, n: _Names) -> ContainerPlan:
    env = {
        "CATALOG_WAREHOUSE": f"s3://{spec.warehouse_bucket}/",
        "CATALOG_IO__IMPL": "org.apache.iceberg.aws.s3.S3FileIO",
        "CATALOG_S3_ENDPOINT": f"http://{n.container('minio')}:9000",
        "CATALOG_S3_PATH__STYLE__ACCESS": "true",
        # The catalog's own tables live in SQLite on the volume (the image's user owns its home directory).
        "CATALOG_URI": "jdbc:sqlite:file:/home/iceberg/catalog.db",
        "CATALOG_JDBC_USER": "iceberg",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": Secret("s3_access_key"),
        "AWS_SECRET_ACCESS_KEY": Secret("s3_secret_key"),
    }
    return ContainerPlan(
        service="iceberg-rest", name=n.container("iceberg-rest"), image=spec.images["iceberg-rest"],
        env=tuple(env.items()), ports=(PortBinding(8181, spec.ports.iceberg_rest),),
        volumes=(VolumeMount(n.volume("iceberg-catalog"), "/home/iceberg"),),
        healthcheck=HealthCheck(_http_probe("http://localhost:8181/v1/config", tool="bash")),
        depends_on=("minio",),
    )


def _influxdb(spec: StackSpec, n: _Names) -> ContainerPlan:
    from stack.grafana import metrics_task_flux

    retention = f"{spec.retention_days}d" if spec.retention_days else "0"
    env = {
        "DOCKER_INFLUXDB_INIT_MODE": "setup",
        "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
        "DOCKER_INFLUXDB_INIT_PASSWORD": Secret("influx_password"),
        "DOCKER_INFLUXDB_INIT_ORG": spec.influx_org,
        "DOCKER_INFLUXDB_INIT_BUCKET": spec.influx_bucket,
        "DOCKER_INFLUXDB_INIT_RETENTION": retention,
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": Secret("influx_token"),
        "INFLUXD_REPORTING_DISABLED": "true",
        "TICKERWIRE_METRICS_BUCKET": spec.metrics_bucket,
    }
    init = (RESOURCES / "docker" / "influxdb" / "init-pipeline-metrics.sh").read_text()
    targets = {"flink-jobmanager": f"http://{n.container('flink-jobmanager')}:9249/metrics",
               "flink-taskmanager": f"http://{n.container('flink-taskmanager')}:9249/metrics",
               "influxdb": "http://localhost:8086/metrics"}
    tasks = tuple(FileCopy(f"/etc/tickerwire/tasks/scrape-{name}.flux",
                           metrics_task_flux(spec.metrics_bucket, url, f"tickerwire-scrape-{name}"))
                  for name, url in targets.items())
    return ContainerPlan(
        service="influxdb", name=n.container("influxdb"), image=spec.images["influxdb"], env=tuple(env.items()),
        ports=(PortBinding(8086, spec.ports.influxdb),),
        volumes=(VolumeMount(n.volume("influxdb-data"), "/var/lib/influxdb2"),
                 VolumeMount(n.volume("influxdb-config"), "/etc/influxdb2")),
        healthcheck=HealthCheck(("influx", "ping", "--host", "http://localhost:8086"), interval_s=3, retries=40),
        files=(FileCopy("/docker-entrypoint-initdb.d/tickerwire-pipeline-metrics.sh", init, 0o755), *tasks),
    )


def _flink_properties(n: _Names, extra: dict[str, str]) -> str:
    props = {
        "jobmanager.rpc.address": n.container("flink-jobmanager"),
        "rest.address": n.container("flink-jobmanager"),
        # Listen on the container's interfaces, not only on localhost (Flink's shipped default).
        "rest.bind-address": "0.0.0.0",
        "jobmanager.bind-host": "0.0.0.0",
        "taskmanager.bind-host": "0.0.0.0",
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": "9249",
        **extra,
    }
    return "\n".join(f"{key}: {value}" for key, value in props.items())


def _checkpoints(n: _Names) -> VolumeMount:
    """Checkpoints shared by the job manager, the task manager and the job client (same path in all three)."""
    return VolumeMount(n.volume("flink-checkpoints"), CHECKPOINTS)


def _flink_jobmanager(spec: StackSpec, n: _Names, image: str) -> ContainerPlan:
    return ContainerPlan(
        service="flink-jobmanager", name=n.container("flink-jobmanager"), image=image, command=("jobmanager",),
        env=(("FLINK_PROPERTIES", _flink_properties(n, {"jobmanager.memory.process.size": "1024m"})),),
        ports=(PortBinding(8081, spec.ports.flink_ui),), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck(_http_probe("http://localhost:8081/overview"), start_period_s=15),
        depends_on=("kafka",),
    )


def _flink_taskmanager(spec: StackSpec, n: _Names, image: str) -> ContainerPlan:
    props = {"taskmanager.numberOfTaskSlots": str(spec.taskmanager_slots),
             "taskmanager.memory.process.size": "1536m"}
    registered = ("python3", "-c",
                  "import json,sys,urllib.request;"
                  f"r=urllib.request.urlopen('http://{n.container('flink-jobmanager')}:8081/taskmanagers',timeout=4);"
                  "sys.exit(0 if json.load(r)['taskmanagers'] else 1)")
    return ContainerPlan(
        service="flink-taskmanager", name=n.container("flink-taskmanager"), image=image, command=("taskmanager",),
        env=(("FLINK_PROPERTIES", _flink_properties(n, props)),), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck(registered, start_period_s=15), depends_on=("flink-jobmanager",),
    )


def _flink_job(spec: StackSpec, n: _Names, image: str) -> ContainerPlan:
    """The job client: submits ``candles_job.py`` to the cluster and stays attached while it runs."""
    jars = ";".join(f"file://{JOB_HOME}/jars/{name}" for name in ("flink-sql-connector-kafka.jar",
                                                                   "tickerwire-flink-udf.jar"))
    return _job_client(n, image, "flink-job", "tickerwire-candles", f"{JOB_HOME}/resources/flink/candles_job.py",
                       ("--jars", jars, "--parallelism", str(spec.parallelism),
                        "--checkpoint-dir", f"{CHECKPOINTS}/candles"))


def _flink_impact_job(spec: StackSpec, n: _Names, image: str) -> ContainerPlan:
    """The impact job's client (``impact_job.py``, with the ``backend`` package beside it in the image)."""
    return _job_client(n, image, "flink-impacts", "tickerwire-impacts", f"{JOB_HOME}/resources/flink/impact_job.py",
                       ("--jars", f"file://{JOB_HOME}/jars/flink-sql-connector-kafka.jar",
                        "--checkpoint-dir", f"{CHECKPOINTS}/impacts"))


def _job_client(n: _Names, image: str, service: str, job_name: str, script: str,
                options: tuple[str, ...]) -> ContainerPlan:
    """A container that submits a PyFlink job to the cluster; healthy while the job runs."""
    # Generic -D options (not --jobmanager) so the same command works on Flink 1.x and 2.x CLIs; the job's
    # own options follow the script, starting with one the CLI does not know (it stops parsing there).
    command = ("flink", "run", "-Dexecution.target=remote", f"-Drest.address={n.container('flink-jobmanager')}",
               "-Drest.port=8081", "--python", script,
               "--bootstrap-servers", f"{n.container('kafka')}:{_INTERNAL_KAFKA_PORT}", *options)
    running = ("python3", "-c",
               "import json,sys,urllib.request;"
               f"r=urllib.request.urlopen('http://{n.container('flink-jobmanager')}:8081/jobs/overview',timeout=4);"
               f"sys.exit(0 if any(j['name']=='{job_name}' and j['state']=='RUNNING' "
               "for j in json.load(r)['jobs']) else 1)")
    return ContainerPlan(
        service=service, name=n.container(service), image=image, command=command,
        env=(("FLINK_PROPERTIES", _flink_properties(n, {})),), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck(running, interval_s=5, retries=36, start_period_s=20),
        depends_on=("kafka", "flink-taskmanager"),
    )


def _grafana(spec: StackSpec, n: _Names) -> ContainerPlan:
    env = {
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD": Secret("grafana_password"),
        "GF_SECURITY_ALLOW_EMBEDDING": "true",
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_NAME": "Main Org.",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": "/etc/grafana/dashboards/tickerwire.json",
        # Read by the provisioned datasource as $INFLUX_TOKEN: the token is never written to a file.
        "INFLUX_TOKEN": Secret("influx_token"),
    }
    files = tuple(FileCopy(path, content) for path, content in provisioning_files(
        influx_url=f"http://{n.container('influxdb')}:8086", org=spec.influx_org, bucket=spec.influx_bucket,
        metrics_bucket=spec.metrics_bucket).items())
    return ContainerPlan(
        service="grafana", name=n.container("grafana"), image=spec.images["grafana"], env=tuple(env.items()),
        ports=(PortBinding(3000, spec.ports.grafana),),
        volumes=(VolumeMount(n.volume("grafana-data"), "/var/lib/grafana"),),
        healthcheck=HealthCheck(("wget", "-q", "-O", "/dev/null", "http://localhost:3000/api/health"),
                                interval_s=3, retries=40),
        files=files, depends_on=("influxdb",),
    )


def _http_probe(url: str, tool: str = "python3") -> tuple[str, ...]:
    """A health-check command that succeeds when ``url`` answers 2xx, for images without curl."""
    if tool == "python3":
        return ("python3", "-c", f"import urllib.request;urllib.request.urlopen({url!r},timeout=4)")
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    script = (f'exec 3<>/dev/tcp/{host}/{port} && printf "GET /{path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n" >&3 '
              '&& head -n1 <&3 | grep -q " 200 "')
    return ("bash", "-c", script)


# --- the Flink image ------------------------------------------------------------------------------------------



def flink_build(spec: StackSpec) -> ImageBuild:
    """The Flink image: the pinned Flink base + Python + PyFlink + the Kafka connector jar + both jobs.

    The tag ends in a digest of the build context and arguments, so editing the job or the UDFs
    builds a new image and an unchanged tree reuses the one already built.
    """
    job = RESOURCES / "flink"
    context = [("Dockerfile", "resources/docker/flink/Dockerfile"),
               ("job/requirements.txt", "resources/flink/requirements.txt")]
    # Both jobs and the module they share, laid out as in the repository; the impact job also imports the
    # app's pure modules (backend.signals.impact, backend.bus.schema …), found two levels up from it.
    for source in [*sorted(job.glob("*.py")), *sorted((REPO_ROOT / "backend").rglob("*.py"))]:
        context.append((f"job/{source.relative_to(REPO_ROOT).as_posix()}", source.relative_to(REPO_ROOT).as_posix()))
    for source in sorted((job / "udf").rglob("*.java")):
        context.append((f"job/udf/{source.relative_to(job / 'udf').as_posix()}",
                        source.relative_to(REPO_ROOT).as_posix()))
    group, artifact, version = KAFKA_CONNECTOR.split(":")
    connector_url = (f"https://repo.maven.apache.org/maven2/{group.replace('.', '/')}/{artifact}/{version}/"
                     f"{artifact}-{version}.jar")
    buildargs = (("FLINK_IMAGE", spec.images["flink"]), ("PYFLINK_VERSION", FLINK_VERSION),
                 ("CONNECTOR_URL", connector_url), ("CONNECTOR_SHA256", KAFKA_CONNECTOR_SHA256),
                 ("JOB_HOME", JOB_HOME))
    digest = hashlib.sha256(json.dumps(buildargs).encode())
    for archive_path, repo_path in context:
        digest.update(archive_path.encode())
        digest.update((REPO_ROOT / repo_path).read_bytes())
    tag = f"tickerwire/flink:{FLINK_VERSION}-{digest.hexdigest()[:12]}"
    return ImageBuild("flink", tag, tuple(context), buildargs)
