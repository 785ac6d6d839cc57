"""The Docker stack as data: ``plan(spec, tree)`` computes everything the engine must build and create.

Pure: nothing here talks to Docker or reads the repository (the image builds read the
:class:`~stack.plan.model.SourceTree` they are given), so every detail is tested without an engine.
:mod:`stack.apply` carries a plan out. Modules: :mod:`~stack.plan.spec` (what the user asks, checked),
:mod:`~stack.plan.model` (the plan's types), :mod:`~stack.plan.images` (the images the project
builds), and one module per service: :mod:`~stack.plan.kafka`, :mod:`~stack.plan.archive` (Iceberg
catalog + S3), :mod:`~stack.plan.influxdb`, :mod:`~stack.plan.flink`, :mod:`~stack.plan.grafana`.
"""

from __future__ import annotations

from stack.plan import archive, flink, grafana, influxdb, kafka
from stack.plan.images import image_builds
from stack.plan.model import Names, SourceTree, StackPlan, VolumePlan, start_order
from stack.plan.spec import StackSpec, validate


def plan(spec: StackSpec, tree: SourceTree) -> StackPlan:
    """Compute the plan for ``spec``, with the image builds made from ``tree``.

    Services start in dependency order: the archive (catalog, S3; unless ``with_archive`` is off) and
    Kafka's brokers first, then InfluxDB, the Flink cluster (JobManager, TaskManagers) and its job
    clients (unless ``with_jobs`` is off), and Grafana (optional) last.

    Raises:
        PlanError: the spec is invalid (see :func:`~stack.plan.spec.validate`) or a build input is missing.
    """
    validate(spec)
    n = Names(spec.name)
    builds = image_builds(spec, tree)
    tags = {build.name: build.tag for build in builds}
    containers = [
        *([archive.catalog(spec, n, tags["postgres"]), archive.s3(spec, n, tags["s3proxy"])] if spec.with_archive
          else []),
        *kafka.brokers(spec, n, tags["kafka"]), influxdb.influxdb(spec, n, tags["influxdb"]),
        flink.jobmanager(spec, n, tags["flink"]), *flink.taskmanagers(spec, n, tags["flink"]),
        *flink.job_clients(spec, n, tags["flink"]),
        grafana.grafana(spec, n),
    ]
    ordered = start_order(containers)
    volumes: dict[str, VolumePlan] = {}
    for container in ordered:  # a shared volume belongs to the first service that mounts it
        for mount in container.volumes:
            volumes.setdefault(mount.volume, VolumePlan(mount.volume, container.service))
    return StackPlan(spec, n.network, tuple(volumes.values()), builds, tuple(ordered))
