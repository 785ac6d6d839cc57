"""The Flink containers: a JobManager, a TaskManager and one client per job (candles, impacts).

All four run the Flink image (:mod:`stack.plan.images`) and share the checkpoint volume at the same
path, so a job client finds the newest checkpoint when it (re)submits and the cluster restores from it
after a TaskManager comes back. The REST API / web UI is published on the host's 127.0.0.1 only, with
jar upload and cancellation disabled; everything else listens on the stack's network only.
"""

from __future__ import annotations

from stack.plan.images import FLINK_HOME_DIR
from stack.plan.kafka import internal_bootstrap
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


def _env(spec: StackSpec, n: Names) -> tuple[tuple[str, str], ...]:
    return (("FLINK_JOBMANAGER", n.container("flink-jobmanager")), ("FLINK_JOBMANAGER_MEMORY", "1024m"),
            ("FLINK_TASKMANAGER_MEMORY", "2560m"), ("FLINK_TASK_SLOTS", str(spec.taskmanager_slots)))


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


def taskmanager(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """The TaskManager; healthy once the JobManager lists it (by the resource id it registered with)."""
    return ContainerPlan(
        service="flink-taskmanager", name=n.container("flink-taskmanager"), image=image, build="flink",
        command=("taskmanager",), env=_env(spec, n), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck((HEALTHCHECK, "taskmanager"), interval_s=3, retries=60, start_period_s=10),
        depends_on=("flink-jobmanager",),
    )


def candle_job(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """The candle job's client (``candles_job.py`` with the connector and the UDF jar)."""
    jars = ";".join(f"file://{JARS}/{name}" for name in (CONNECTOR_JAR, "tickerwire-flink-udf.jar"))
    return _job_client(spec, n, image, "flink-job", CANDLES_JOB, f"{JOBS}/candles_job.py",
                       ("--jars", jars, "--parallelism", str(spec.parallelism),
                        "--checkpoint-dir", f"{CHECKPOINTS}/candles"))


def impact_job(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """The impact job's client (``impact_job.py``, with the ``backend`` modules beside it in the image)."""
    return _job_client(spec, n, image, "flink-impacts", IMPACTS_JOB, f"{JOBS}/impact_job.py",
                       ("--jars", f"file://{JARS}/{CONNECTOR_JAR}",
                        "--checkpoint-dir", f"{CHECKPOINTS}/impacts"))


def _job_client(spec: StackSpec, n: Names, image: str, service: str, job_name: str, script: str,
                options: tuple[str, ...]) -> ContainerPlan:
    """A container that keeps one job running on the cluster (``flinkctl.py run``); healthy while it runs."""
    command = ("job", job_name, script, "--bootstrap-servers", internal_bootstrap(n), *options)
    return ContainerPlan(
        service=service, name=n.container(service), image=image, build="flink", command=command,
        env=_env(spec, n), volumes=(_checkpoints(n),),
        healthcheck=HealthCheck((HEALTHCHECK, "job", job_name), interval_s=3, retries=100, start_period_s=20),
        depends_on=("kafka", "flink-taskmanager"),
    )
