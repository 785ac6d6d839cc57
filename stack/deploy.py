"""``tickerwire stack deploy-jobs``: the candle and impact jobs submitted to a Flink session cluster the app
did not start (a team's cluster, or a stack brought up with ``with_jobs`` off).

The jobs are submitted from a short-lived container of the project's Flink image (built here if
missing, as ``stack up`` builds it): it holds the job scripts, the Kafka connector and UDF jars and
the PyFlink client, so the host needs nothing but Docker. The container shares the host's network
(it reaches the cluster's REST URL as the host does) and listens on nothing. The cluster must run the
same image (its TaskManagers run the impact job's Python workers), reach the brokers at
``bootstrap`` and share the checkpoint directory. A job already active on the cluster under its name
is left alone, so deploying twice submits nothing twice.
"""

from __future__ import annotations

import threading

import docker.errors

from stack.build import ImageBuilder
from stack.engine import connect, explain
from stack.plan import plan
from stack.plan.flink import CANDLES_JOB, CHECKPOINTS, IMPACTS_JOB, job_arguments
from stack.plan.spec import StackSpec
from stack.repo import RepoTree
from stack.types import Progress, ProgressCallback, StackError

#: The checkpoint root on the cluster by default: the stack image's checkpoint volume, as a URI.
DEFAULT_CHECKPOINTS = f"file://{CHECKPOINTS}"
FLINKCTL = ("/opt/pyflink/bin/python", "/opt/tickerwire/bin/flinkctl.py")


def deploy_jobs(flink_url: str, bootstrap: str, spec: StackSpec, *, parallelism: int = 1,
                checkpoints: str = DEFAULT_CHECKPOINTS, progress: ProgressCallback = lambda event: None,
                base_url: str | None = None, timeout_s: float = 600.0) -> None:
    """Submit both jobs to the cluster at ``flink_url`` (each unless already active) and wait until they run.

    Args:
        flink_url: The JobManager's REST URL as this host reaches it.
        bootstrap: Kafka's brokers as the cluster's TaskManagers reach them.
        spec: The stack spec whose Flink image to use (base image, extra CA, build arguments).
        parallelism: Each job's parallelism (the cluster needs that many free slots per job).
        checkpoints: The checkpoint root the cluster's JobManager and TaskManagers share (a URI).

    Raises:
        StackError: the image could not be built, or a job was not submitted or does not run (the
            message carries the client's last lines).
    """
    client = connect(base_url)
    try:
        image = flink_image(client, spec, progress)
        for job in (CANDLES_JOB, IMPACTS_JOB):
            progress(Progress("start", job, f"deploying {job} to {flink_url}"))
            said = submit(client, image, flink_url, job_arguments(job, bootstrap, parallelism, checkpoints),
                          job, timeout_s)
            progress(Progress("ready", job, said))
    finally:
        client.close()


def flink_image(client, spec: StackSpec, progress: ProgressCallback = lambda event: None) -> str:
    """The tag of ``spec``'s Flink image, built first if missing."""
    tree = RepoTree()
    stack_plan = plan(spec, tree)
    builder = ImageBuilder(client, tree, spec.base_image)
    for build in stack_plan.builds_for("flink-jobmanager"):
        builder.ensure(build, progress, threading.Event())
    return stack_plan.container("flink-jobmanager").image


def submit(client, image: str, flink_url: str, arguments: tuple[str, ...], job: str, timeout_s: float = 600.0) -> str:
    """Run ``flinkctl.py deploy JOB ARGUMENTS…`` in a short-lived container of ``image``; return its last line.

    Raises:
        StackError: the client failed (with its last lines).
    """
    try:
        container = client.containers.run(
            image, entrypoint=list(FLINKCTL), command=["deploy", job, *arguments], detach=True,
            environment={"FLINK_REST": flink_url}, network_mode="host", cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"])
    except docker.errors.APIError as exc:
        raise StackError(f"starting the job client for {job} failed: {explain(exc)}") from exc
    try:
        code = container.wait(timeout=timeout_s)["StatusCode"]
        output = container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True)
    if code != 0:
        raise StackError(f"deploying {job} to {flink_url} failed (exit {code}):\n{output[-3000:]}")
    return output.splitlines()[-1] if output else f"{job} runs"
