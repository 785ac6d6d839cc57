"""What the user asks of the Docker stack (:class:`StackSpec`) and the checks a spec must pass before planning.

A spec is plain data: names, host ports, the base image, build options. :func:`validate` refuses a
bad one with a message that names the field and the rule. :func:`endpoints` derives the host
addresses from a spec alone (no engine needed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stack.types import Endpoints
from stack.versions import DEBIAN_BASE_IMAGE, GRAFANA_IMAGE

#: Label put on everything the stack creates; its value is the stack's name.
LABEL = "io.tickerwire.stack"
#: Label naming the service a container or volume belongs to.
SERVICE_LABEL = "io.tickerwire.service"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,40}$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class PlanError(ValueError):
    """The spec cannot be planned (bad name, port, image tag or a dependency cycle); the message says why."""


@dataclass(frozen=True)
class Ports:
    """Host ports, all published on 127.0.0.1 only."""

    kafka: int = 9092
    flink_ui: int = 8081
    influxdb: int = 8086
    grafana: int = 3000
    s3: int = 9000
    catalog: int = 5432
    kafka_2: int = 9094  # the second and third brokers of a three-broker stack
    kafka_3: int = 9095

    def kafka_ports(self, brokers: int) -> tuple[int, ...]:
        """The host port of each broker."""
        return (self.kafka, self.kafka_2, self.kafka_3)[:brokers]


@dataclass(frozen=True)
class StackSpec:
    """The Docker stack to plan; everything in the plan derives from it.

    Attributes:
        name: Prefix of every container, volume and the network; also the label value.
        ports: Host ports (127.0.0.1 only).
        influx_database: InfluxDB 1.8 database of the market data (the app's bucket is ``<database>/autogen``).
        catalog_database: PostgreSQL database of the Iceberg SQL catalog (also its owner's role name).
        warehouse_bucket: S3 bucket holding the Iceberg warehouse.
        taskmanager_slots: Task slots of each Flink task manager.
        parallelism: Parallelism of the candle job and of the impact job (each takes that many slots).
        kafka_brokers: 1, or 3 for the multi-broker profile: a three-node KRaft quorum, every topic with
            replication factor 3 and ``min.insync.replicas`` 2 (a broker may fail without loss or a stop).
        taskmanagers: Flink TaskManager containers (each with ``taskmanager_slots`` slots).
        taskmanager_memory: Process memory of each TaskManager.
        price_partitions: Partitions of ``stock-prices`` (a symbol's bars stay on one: the key is the symbol).
        with_archive: Run the Iceberg archive's catalog and S3 store.
        with_jobs: Run the job clients that keep both Flink jobs submitted (off: a bare session cluster, for
            ``tickerwire stack deploy-jobs``).
        base_image: The Debian image every image builds on: ``debian:bookworm-slim``, or a local import
            such as ``local/debian:bookworm`` where nothing can be pulled.
        extra_ca_file: A PEM file of extra CA certificates trusted during builds and in the containers
            ('' for none): for TLS-intercepting proxies between the builds and the package registries.
        build_args: Extra build arguments per image (``{"flink": {"JAVA_RELEASE": "17"}}``); they are
            part of the image's digest.
        grafana_image: Grafana's upstream image (optional: skipped when absent and not pullable).
    """

    name: str = "tickerwire"
    ports: Ports = field(default_factory=Ports)
    influx_database: str = "tickerwire"
    catalog_database: str = "iceberg"
    warehouse_bucket: str = "warehouse"
    taskmanager_slots: int = 2
    parallelism: int = 1
    kafka_brokers: int = 1
    taskmanagers: int = 1
    taskmanager_memory: str = "2560m"
    price_partitions: int = 3
    with_archive: bool = True
    with_jobs: bool = True
    base_image: str = DEBIAN_BASE_IMAGE
    extra_ca_file: str = ""
    build_args: dict[str, dict[str, str]] = field(default_factory=dict)
    grafana_image: str = GRAFANA_IMAGE


def validate(spec: StackSpec) -> None:
    """Check a spec before planning.

    Raises:
        PlanError: a bad name, a port out of range or used twice, a floating Grafana tag, a bad
            database or bucket name, or too few task slots.
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
    check_pinned("grafana", spec.grafana_image)
    if not spec.base_image or any(c.isspace() for c in spec.base_image):
        raise PlanError(f"base image {spec.base_image!r} is not an image reference")
    for label, value in (("influx_database", spec.influx_database), ("catalog_database", spec.catalog_database)):
        if not _IDENT_RE.match(value):
            raise PlanError(f"{label} {value!r} must be lower-case letters, digits or '_', starting with a letter")
    if not re.match(r"^[a-z0-9][a-z0-9.-]{2,62}$", spec.warehouse_bucket):
        raise PlanError(f"warehouse_bucket {spec.warehouse_bucket!r} is not a valid S3 bucket name")
    if spec.taskmanager_slots < 1 or spec.parallelism < 1 or spec.taskmanagers < 1:
        raise PlanError("taskmanager_slots, taskmanagers and parallelism must be at least 1")
    slots = spec.taskmanager_slots * spec.taskmanagers
    if 2 * spec.parallelism > slots:
        raise PlanError(f"the candle and impact jobs at parallelism {spec.parallelism} need {2 * spec.parallelism} "
                        f"task slots; {spec.taskmanagers} task manager(s) × {spec.taskmanager_slots} = {slots}")
    if spec.kafka_brokers not in (1, 3):
        raise PlanError(f"kafka_brokers must be 1 or 3 (a three-node quorum), not {spec.kafka_brokers}")
    if not 1 <= spec.price_partitions <= 1000:
        raise PlanError(f"price_partitions must be between 1 and 1000, not {spec.price_partitions}")
    if not re.match(r"^\d+[mg]$", spec.taskmanager_memory):
        raise PlanError(f"taskmanager_memory {spec.taskmanager_memory!r} must be like 2560m or 4g")


def check_pinned(service: str, ref: str) -> None:
    """Require an exact version tag on a pulled image.

    Raises:
        PlanError: no tag, ``latest``, or a floating tag such as ``11`` or ``11.6``.
    """
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag or not tag:
        raise PlanError(f"image {ref!r} for {service} has no tag: pin an exact version")
    if tag == "latest" or not re.search(r"\d+\.\d+\.\d+", tag):
        raise PlanError(f"image {ref!r} for {service} is not pinned to an exact version (x.y.z)")


def influx_bucket(spec: StackSpec) -> str:
    """The app's InfluxDB 1.8 bucket: ``<database>/autogen``."""
    return f"{spec.influx_database}/autogen"


def endpoints(spec: StackSpec) -> Endpoints:
    """The host-side addresses of the stack's services (Grafana's as if it runs)."""
    from stack.grafana import DASHBOARD_UID  # the dashboard generator (the grafana SDK)

    p = spec.ports
    grafana = f"http://127.0.0.1:{p.grafana}"
    archive = spec.with_archive
    return Endpoints(
        kafka_bootstrap=",".join(f"127.0.0.1:{port}" for port in p.kafka_ports(spec.kafka_brokers)),
        influx_url=f"http://127.0.0.1:{p.influxdb}",
        influx_bucket=influx_bucket(spec), grafana_url=grafana,
        dashboard_url=f"{grafana}/d/{DASHBOARD_UID}/tickerwire?orgId=1&kiosk",
        catalog_uri=(f"postgresql+psycopg2://{spec.catalog_database}@127.0.0.1:{p.catalog}/{spec.catalog_database}"
                     if archive else ""),
        s3_endpoint=f"http://127.0.0.1:{p.s3}" if archive else "", s3_region="us-east-1" if archive else "",
        warehouse=f"s3://{spec.warehouse_bucket}/" if archive else "",
        flink_ui=f"http://127.0.0.1:{p.flink_ui}",
    )
