"""The Flink containers: a JobManager, one or more TaskManagers and one client per job (candles, impacts).

All run the Flink image (:mod:`stack.plan.images`) and share the checkpoint volume at the same
path, so a job client finds the newest checkpoint when it (re)submits and the cluster restores from it
after a TaskManager comes back. Both jobs run at ``spec.parallelism``; the candle job's operators are
keyed by symbol, so its subtasks split the symbols (and ``stock-prices``'s partitions) between them.
Without ``spec.with_jobs`` the cluster runs bare, for ``tickerwire stack deploy-jobs``
(:func:`job_arguments` is shared with it). The REST API / web UI is published on the host's 127.0.0.1 only, with
jar upload and cancellation disabled; everything else listens on the stack's network only.
"""

from __future__ import annotations

from stack.plan.images import FLINK_HOME_DIR
from stack.plan.kafka import broker_services, internal_bootstrap
from stack.plan.model import ContainerPlan, HealthCheck, Names, PortBinding, VolumeMount
from stack.plan.spec import StackSpec
from stack.versions import KAFKA_CONNECTOR

#: Checkpoint directory in the Flink containers (a volume owned by the flink user).
CHECKPOINTS = f"{FLINK_HOME_DIR}/checkpoints"
JARS = f"{FLINK_HOME_DIR}/jars"
JOBS = f"{FLINK_HOME_DIR}/resources/flink"
HEALTHCHECK = f"{FLINK_HOME_DIR}/bin/healthcheck"
#: The Kafka connector's jar as the image's fetch-checked names it (after its URL).
CONNECTOR_JAR = "{1}-{2}.jar".format(*KAFKA_CONNECTOR.split(":"))
#: Job names, as the job scripts name themselves (the clients and health checks find jobs by name).
CANDLES_JOB = "tickerwire-candles"
IMPACTS_JOB = "tickerwire-impacts"


#: The job scripts in the Flink image.
SCRIPTS = {CANDLES_JOB: f"{JOBS}/candles_job.py", IMPACTS_JOB: f"{JOBS}/impact_job.py"}


def _env(spec: StackSpec, n: Names) -> tuple[tuple[str, str], ...]:
    return (("FLINK_JOBMANAGER", n.container("flink-jobmanager")), ("FLINK_JOBMANAGER_MEMORY", "1024m"),
            ("FLINK_TASKMANAGER_MEMORY", spec.taskmanager_memory), ("FLINK_TASK_SLOTS", str(spec.taskmanager_slots)))


def taskmanager_services(spec: StackSpec) -> tuple[str, ...]:
    """``flink-taskmanager``, then ``flink-taskmanager-2``… (``spec.taskmanagers`` of them)."""
    return tuple("flink-taskmanager" if i == 1 else f"flink-taskmanager-{i}" for i in range(1, spec.taskmanagers + 1))


def _checkpoints(n: Names) -> VolumeMount:
    return VolumeMount(n.volume("flink-checkpoints"), CHECKPOINTS)


def jobmanager(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """The JobManager (REST API and web UI on the host's 127.0.0.1)."""
    return ContainerPlan(
        service="flink-jobmanager", name=n.container("flink-jobmanager"), image=image, build="flink",
        command=("jobmanager",), env=_env(spec, n), ports=(PortBinding(8081, spec.ports.flink_ui),),
        volumes=(_checkpoints(n),),
        healthcheck=HealthCheck((HEALTHCHECK, "jobmanager"), interval_s=3, retries=60, start_period_s=10),
    )


def taskmanagers(spec: StackSpec, n: Names, image: str) -> list[ContainerPlan]:
    """The TaskManagers; each healthy once the JobManager lists it (by the resource id it registered with)."""
    return [ContainerPlan(
        service=service, name=n.container(service), image=image, build="flink",
        command=("taskmanager",), env=_env(spec, n), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck((HEALTHCHECK, "taskmanager"), interval_s=3, retries=60, start_period_s=10),
        depends_on=("flink-jobmanager",),
    ) for service in taskmanager_services(spec)]


def job_arguments(job_name: str, bootstrap: str, parallelism: int, checkpoints: str) -> tuple[str, ...]:
    """The script and options of job ``job_name`` (:data:`CANDLES_JOB` or :data:`IMPACTS_JOB`) in the image.

    Args:
        bootstrap: The brokers as the cluster's TaskManagers reach them.
        checkpoints: The checkpoint root the cluster shares (a directory or a URI); each job uses a
            subdirectory of it.
    """
    if job_name == CANDLES_JOB:
        jars = ";".join(f"file://{JARS}/{name}" for name in (CONNECTOR_JAR, "tickerwire-flink-udf.jar"))
        subdirectory = "candles"
    else:
        jars, subdirectory = f"file://{JARS}/{CONNECTOR_JAR}", "impacts"
    return (SCRIPTS[job_name], "--bootstrap-servers", bootstrap, "--jars", jars, "--parallelism", str(parallelism),
            "--checkpoint-dir", f"{checkpoints.rstrip('/')}/{subdirectory}")


def job_clients(spec: StackSpec, n: Names, image: str) -> list[ContainerPlan]:
    """The two job clients (none without ``spec.with_jobs``)."""
    if not spec.with_jobs:
        return []
    return [_job_client(spec, n, image, "flink-job", CANDLES_JOB), _job_client(spec, n, image, "flink-impacts",
                                                                                IMPACTS_JOB)]


def _job_client(spec: StackSpec, n: Names, image: str, service: str, job_name: str) -> ContainerPlan:
    """A container that keeps one job running on the cluster (``flinkctl.py run``); healthy while it runs."""
    command = ("job", job_name, *job_arguments(job_name, internal_bootstrap(spec, n), spec.parallelism, CHECKPOINTS))
    return ContainerPlan(
        service=service, name=n.container(service), image=image, build="flink", command=command,
        env=_env(spec, n), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck((HEALTHCHECK, "job", job_name), interval_s=3, retries=100, start_period_s=20),
        depends_on=(*broker_services(spec)[-1:], *taskmanager_services(spec)),
    )
