"""``tickerwire stack up | status | down``: the Docker stack from the command line (the Stack tab's code).

* ``up [--timeout S] [--base-image REF] [--build-ca FILE]``: builds the images that are missing
  (step by step), starts the services in dependency order, waits for each to be healthy, starts the
  supervisor and prints every service's state. A failure rolls back what the start created and names
  the failed step; the exit status is then 1.
* ``status [--json]``: each service's state, health and detail, the supervisor, the endpoints.
* ``down [--volumes]``: stops the supervisor and removes the containers (and, with ``--volumes``, the
  data and the stack's credentials).
* ``deploy-jobs --flink URL --bootstrap-servers HOSTS [--parallelism N] [--checkpoints URI]``: submits
  the candle and impact jobs to a Flink session cluster the app did not start (:mod:`stack.deploy`).

``profile``, ``test`` and ``create-topics`` are for remote stacks (:mod:`stack.remote.cli`);
``collector-image`` builds the collector's image (a service for a server), from the same base.

Without a Docker engine every command says "Docker not found" and what the local-process stack is
(exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from typing import TextIO

from stack.engine import LOCAL_ALTERNATIVE, docker_problem
from stack.types import Progress, ServiceStatus, StackError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``stack`` command and its subcommands to an argparse subparsers object."""
    stack = subparsers.add_parser("stack", help="bring the Docker stack (Kafka, Flink, InfluxDB, Iceberg, Grafana) "
                                                "up or down, or show its state")
    actions = stack.add_subparsers(dest="stack_command", required=True)
    up = actions.add_parser("up", help="build what is missing, start every service, wait until healthy")
    up.add_argument("--timeout", type=float, default=600.0, metavar="S",
                    help="seconds each service may take to become healthy (image builds excluded; default 600)")
    up.add_argument("--base-image", metavar="REF",
                    help="Debian bookworm image the builds start from (default: $TICKERWIRE_BASE_IMAGE or "
                         "debian:bookworm-slim)")
    up.add_argument("--build-ca", metavar="FILE",
                    help="PEM file of extra CA certificates for the builds (default: $TICKERWIRE_BUILD_CA)")
    status = actions.add_parser("status", help="each service's state and health")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    down = actions.add_parser("down", help="stop and remove the containers (the data volumes stay)")
    down.add_argument("--volumes", action="store_true", help="also delete the data volumes and the credentials")
    image = actions.add_parser("collector-image", help="build the collector's container image (a service on a "
                                                       "server: see the README's deployment guide)")
    image.add_argument("--base-image", metavar="REF", help="as for `up`")
    image.add_argument("--build-ca", metavar="FILE", help="as for `up`")
    from stack.remote.cli import add_parsers as add_remote_parsers  # profile, test, create-topics

    add_remote_parsers(actions)
    deploy = actions.add_parser("deploy-jobs", help="submit the candle and impact jobs to a Flink session cluster "
                                                    "the app did not start")
    deploy.add_argument("--flink", required=True, metavar="URL", help="the JobManager's REST URL (http://host:8081)")
    deploy.add_argument("--bootstrap-servers", required=True, metavar="HOSTS",
                        help="Kafka's brokers as the cluster's TaskManagers reach them (host:port,…)")
    deploy.add_argument("--parallelism", type=int, default=1, metavar="N", help="each job's parallelism (default 1)")
    deploy.add_argument("--checkpoints", metavar="URI",
                        help="checkpoint root shared by the cluster's JobManager and TaskManagers "
                             "(default: the stack image's checkpoint volume)")
    deploy.add_argument("--base-image", metavar="REF", help="as for `up` (the Flink image is built if missing)")
    deploy.add_argument("--build-ca", metavar="FILE", help="as for `up`")
    return stack


class _Printer:
    """Prints progress lines with the time since the start; build output only as steps.

    Used as a context manager: while a build step runs without a printed line for
    :attr:`HEARTBEAT_S` (a long ``pip install`` or Go build), a line says it is still running, with
    the step's last output — so a cold start shows progress throughout.
    """

    HEARTBEAT_S = 15.0

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._printed = self.started
        self._step: tuple[str, float] | None = None  # the running build step's line, and when it began
        self._last_output = ""
        self._done = threading.Event()

    def __enter__(self) -> _Printer:
        threading.Thread(target=self._heartbeat, name="stack-progress", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()

    def __call__(self, event: Progress) -> None:
        with self._lock:
            if event.phase == "build" and event.current is None and ": step " not in event.message \
                    and not event.message.startswith(("building image", "built image", "image ")):
                self._last_output = event.message  # a RUN step's own output: the step lines carry the progress
                return
            if event.phase == "build":
                running = ": step " in event.message
                self._step = (event.message, time.monotonic()) if running else None
            if event.phase == "pull" and event.total and event.current not in (0, event.total):
                return
            self._print(event.message)

    def _heartbeat(self) -> None:
        while not self._done.wait(min(1.0, self.HEARTBEAT_S / 4)):
            with self._lock:
                now = time.monotonic()
                if self._step is not None and now - self._printed >= self.HEARTBEAT_S:
                    step, since = self._step
                    last = f"; last output: {self._last_output.split(': ', 1)[-1][:160]}" if self._last_output else ""
                    self._print(f"{step.split(': ', 2)[0]}: {step.split(': ', 2)[1]} still running "
                                f"({now - since:.0f} s){last}")

    def _print(self, message: str) -> None:
        self._printed = time.monotonic()
        print(f"[{self._printed - self.started:6.1f}s] {message}", file=self.out, flush=True)


def status_table(statuses: list[ServiceStatus]) -> str:
    """The services as aligned text lines."""
    width = max((len(s.service) for s in statuses), default=7)
    lines = [f"{'service':<{width}}  {'state':<10} {'health':<10} detail"]
    lines += [f"{s.service:<{width}}  {s.state:<10} {s.health or '-':<10} {s.detail}".rstrip() for s in statuses]
    return "\n".join(lines)


def _backend(args, out: TextIO):
    from stack.docker_backend import DockerBackend, spec_from_environment

    changes = {}
    if getattr(args, "base_image", None):
        changes["base_image"] = args.base_image
    if getattr(args, "build_ca", None):
        changes["extra_ca_file"] = args.build_ca
    return DockerBackend(spec_from_environment(**changes), notice=lambda text: print(text, file=out, flush=True),
                         health_timeout_s=getattr(args, "timeout", 600.0))


def _collector_image(args, out: TextIO) -> int:
    """Build the base image (if missing) and the collector's on it; print the collector's tag."""
    from stack.build import ImageBuilder
    from stack.docker_backend import spec_from_environment
    from stack.engine import connect
    from stack.plan.images import collector_builds
    from stack.repo import RepoTree

    changes = {k: v for k, v in (("base_image", args.base_image), ("extra_ca_file", args.build_ca)) if v}
    spec, tree = spec_from_environment(**changes), RepoTree()
    builder = ImageBuilder(connect(None), tree, spec.base_image)
    builds = collector_builds(spec, tree)
    with _Printer(out) as printer:
        for build in builds:
            builder.ensure(build, printer, threading.Event())
    print(builds[-1].tag, file=out)
    return 0


def run(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr, backend=None) -> int:
    """Run ``tickerwire stack …``; return the exit status.

    Args:
        args: The parsed command line.
        out: Where progress and results go.
        err: Where errors and notices go.
        backend: The :class:`~stack.docker_backend.DockerBackend` to drive (default: the environment's stack).
    """
    from stack.remote import cli as remote_cli

    if args.stack_command in remote_cli.COMMANDS:  # a remote stack: no Docker engine involved
        return remote_cli.run(args, out, err)
    problem = docker_problem(backend.base_url if backend is not None else None)
    if problem:
        print(f"{problem}\n{LOCAL_ALTERNATIVE}", file=err)
        return 2
    try:
        if args.stack_command == "collector-image":
            return _collector_image(args, out)
        if args.stack_command == "deploy-jobs":
            return _deploy_jobs(args, out, backend)
        backend = backend or _backend(args, err)
        if args.stack_command == "up":
            started = time.monotonic()
            with _Printer(out) as printer:
                backend.start(printer, threading.Event())
            print(f"the stack is up after {time.monotonic() - started:.1f} s", file=out)
            print(status_table(backend.status()), file=out)
            return 0
        if args.stack_command == "status":
            statuses = backend.status()
            if args.json:
                document = {"stack": backend.spec.name, "backend": backend.name, "supervised": backend.supervised(),
                            "services": [dataclasses.asdict(s) for s in statuses],
                            "endpoints": dataclasses.asdict(backend.endpoints())}
                print(json.dumps(document, indent=2), file=out)
            else:
                print(status_table(statuses), file=out)
                print(f"supervisor: {'running' if backend.supervised() else 'not running'}", file=out)
            return 0
        backend.stop(delete_data=args.volumes)
        print("the stack is down" + (" and its data deleted" if args.volumes else " (its data volumes are kept)"),
              file=out)
        return 0
    except StackError as exc:
        print(f"tickerwire stack {args.stack_command}: {exc}", file=err)
        return 1


def _deploy_jobs(args, out: TextIO, backend=None) -> int:
    from stack.deploy import DEFAULT_CHECKPOINTS, deploy_jobs
    from stack.docker_backend import spec_from_environment

    changes = {key: value for key, value in (("base_image", args.base_image), ("extra_ca_file", args.build_ca))
               if value}
    spec = backend.spec if backend is not None else spec_from_environment(**changes)
    with _Printer(out) as printer:
        deploy_jobs(args.flink, args.bootstrap_servers, spec, parallelism=args.parallelism,
                    checkpoints=args.checkpoints or DEFAULT_CHECKPOINTS, progress=printer,
                    base_url=backend.base_url if backend is not None else None)
    print(f"both jobs run on {args.flink}", file=out)
    return 0
