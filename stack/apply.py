"""Carries out a :class:`~stack.plan.model.StackPlan` on a Docker engine, and takes the stack down again.

:class:`DockerStack` does one action at a time and reports each through a progress callback:
create the network and the volumes, then wave by wave (the services whose dependencies are up): per
service build its images (parents first, each skipped when its tag exists), create the container, copy
its generated files and its secret files in (mode 0400, owned by the service's user: credentials never
go into the environment) and start it; then wait until Docker reports each of the wave healthy and run
its post-start commands. A container of this
stack that already runs with the same configuration is kept as it is, so ``apply`` on a running
stack changes nothing. An optional service whose image is absent and cannot be pulled is skipped,
with the reason. A ``threading.Event`` cancels between steps and while waiting.

Every failure is a :class:`~stack.types.StackError` subclass with a message naming the step, raised
after a rollback that removes exactly what this call created (containers, network, new volumes);
built images stay, as the build cache. Teardown stops and removes the containers and the network,
and the volumes only when asked.
"""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import docker.errors
import requests.exceptions

from stack.build import ImageBuilder
from stack.credentials import StackCredentials
from stack.engine import connect, explain
from stack.plan.model import ContainerPlan, FileCopy, SecretFile, SourceTree, StackPlan, start_waves
from stack.plan.spec import LABEL, SERVICE_LABEL
from stack.types import (
    PortInUse, Progress, ProgressCallback, PullFailed, ServiceStatus, ServiceUnhealthy, StackError,
    StartCancelled, ignore_progress,
)

#: Label holding a digest of a container's planned configuration (a changed plan recreates it).
CONFIG_LABEL = "io.tickerwire.config"


@dataclass
class _Created:
    """What one start created, so that a failure removes exactly that."""

    containers: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    network: object | None = None


def config_digest(plan: ContainerPlan) -> str:
    """A digest of everything planned about a container (secret templates, never secret values)."""
    return hashlib.sha256(repr(plan).encode()).hexdigest()[:16]


def files_archive(files: tuple[FileCopy, ...], secrets: tuple[SecretFile, ...], values: dict[str, str]) -> bytes:
    """A tar to extract at ``/`` in a container: generated files and secret files with their owners and modes
    (each secret file's directory is made the owner's, mode 0500)."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directories = {}
        for secret in secrets:
            directory = secret.path.rsplit("/", 1)[0]
            if directory.startswith("/run/secrets"):
                directories[directory] = (secret.uid, secret.gid)
        for directory, (uid, gid) in sorted(directories.items()):
            info = tarfile.TarInfo(directory.lstrip("/"))
            info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, 0o500, uid, gid, now
            archive.addfile(info)
        entries = [(f.path, f.content.encode(), f.mode, f.uid, f.gid) for f in files]
        entries += [(s.path, s.template.format(**values).encode(), s.mode, s.uid, s.gid) for s in secrets]
        for path, data, mode, uid, gid in entries:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, now
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cancelled() -> StartCancelled:
    return StartCancelled("the start was cancelled; everything it had created was removed")


class DockerStack:
    """Brings one :class:`StackPlan` up and down on a Docker engine.

    Args:
        plan: What to build and create.
        tree: Where the image builds read their context.
        credentials: Called once per start for the secrets the containers need.
        base_url: Engine address (default: ``DOCKER_HOST`` or the local socket, as the ``docker`` CLI).
        health_timeout_s: How long one service may take to become healthy.
        poll_s: Interval of the health polling.
        stop_timeout_s: Grace period of ``docker stop`` before the engine kills a container.
    """

    def __init__(self, plan: StackPlan, tree: SourceTree, credentials: Callable[[], StackCredentials], *,
                 base_url: str | None = None, health_timeout_s: float = 600.0, poll_s: float = 1.0,
                 stop_timeout_s: int = 30) -> None:
        self.plan = plan
        self.tree = tree
        self._credentials = credentials
        self.base_url = base_url
        self.health_timeout_s = health_timeout_s
        self.poll_s = poll_s
        self.stop_timeout_s = stop_timeout_s
        self._label = f"{LABEL}={plan.spec.name}"

    def connect(self):
        """A connected docker-py client (raises :class:`~stack.types.DockerUnavailable`)."""
        return connect(self.base_url)

    # --- start ----------------------------------------------------------------------------------------------

    def apply(self, progress: ProgressCallback = ignore_progress,
              cancel: threading.Event | None = None) -> list[str]:
        """Bring the whole stack up; return the optional services it runs without.

        On any failure, remove what this call created and raise.

        Raises:
            StackError: one of its subclasses, with a message that names the failed step.
        """
        cancel = cancel or threading.Event()
        progress(Progress("connect", "docker", "connecting to Docker"))
        client = self.connect()
        created = _Created()
        skipped: list[str] = []
        builder = ImageBuilder(client, self.tree, self.plan.spec.base_image)
        try:
            existing = self._existing(client)
            keep = {s for s, c in existing.items() if self._reusable(c, self.plan.container(s))}
            for service, container in existing.items():
                if service not in keep:
                    progress(Progress("start", service, f"removing the old container {container.name}"))
                    container.remove(force=True)
            self._check_ports(keep)
            try:
                values = self._credentials().as_dict()
            except Exception as exc:  # NoKeyringError or an unreadable credentials file
                raise StackError(f"the stack's credentials cannot be kept: {exc}") from exc
            self._network_and_volumes(client, created, progress)
            # Services whose dependencies are up start together (their images are built first, one at a
            # time), and are then waited for together: the stack is up in the time of its longest chain.
            for wave in start_waves(list(self.plan.containers)):
                starting = []
                for plan in wave:
                    self._check(cancel)
                    if plan.service in keep:
                        progress(Progress("ready", plan.service, f"{plan.service} is already running"))
                        continue
                    if plan.optional:
                        reason = self._optional_image(builder, plan, progress, cancel)
                        if reason:
                            skipped.append(plan.service)
                            progress(Progress("skip", plan.service, f"{plan.service} skipped: {reason}"))
                            continue
                    for build in self.plan.builds_for(plan.service):
                        self._check(cancel)
                        builder.ensure(build, progress, cancel)
                    starting.append((plan, self._start_container(client, plan, values, created, progress)))
                for plan, container in starting:
                    self._until_ready(container, plan, progress, cancel)
            progress(Progress("ready", "stack", "all services are healthy"
                              + (f" ({', '.join(skipped)} skipped)" if skipped else "")))
            return skipped
        except BaseException as exc:
            self._rollback(created, progress)
            if isinstance(exc, StackError):
                raise
            if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
                raise StackError(f"Docker refused a step of the start: {explain(exc)}") from exc
            raise
        finally:
            client.close()

    @staticmethod
    def _check(cancel: threading.Event) -> None:
        if cancel.is_set():
            raise _cancelled()

    def _existing(self, client) -> dict:
        """This stack's containers by service (any container of an unknown service is removed)."""
        found = {}
        for container in client.containers.list(all=True, filters={"label": self._label}):
            service = container.labels.get(SERVICE_LABEL, "")
            if service in self.plan.services:
                found[service] = container
            else:
                container.remove(force=True)
        return found

    def _reusable(self, container, plan: ContainerPlan) -> bool:
        """A running container with this plan's configuration (not unhealthy) is kept."""
        state = container.attrs.get("State", {})
        health = (state.get("Health") or {}).get("Status")
        return (container.labels.get(CONFIG_LABEL) == config_digest(plan) and state.get("Running", False)
                and health != "unhealthy")

    def _check_ports(self, keep: set[str]) -> None:
        for service, binding in self.plan.host_ports():
            if service in keep:
                continue
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((binding.host_ip, binding.host_port))
                except OSError as exc:
                    raise PortInUse(self._port_message(service, binding.host_port, str(exc))) from exc

    @staticmethod
    def _port_message(service: str, port: int, why: str) -> str:
        return (f"port {port} on 127.0.0.1, which {service} needs, is in use by another program ({why}): "
                "stop that program or give the stack another port, then start again")

    def _optional_image(self, builder: ImageBuilder, plan: ContainerPlan, progress: ProgressCallback,
                        cancel: threading.Event) -> str:
        """'' when the optional service's image is present or pulled now, else why not."""
        try:
            builder.pull(plan.image, progress, cancel)
            return ""
        except PullFailed as exc:
            return (f"its image {plan.image} is not on this engine and could not be pulled ({exc}); the stack "
                    "runs without it")

    def _network_and_volumes(self, client, created: _Created, progress: ProgressCallback) -> None:
        labels = {LABEL: self.plan.spec.name}
        if not client.networks.list(names=[self.plan.network], filters={"label": self._label}):
            progress(Progress("create", "network", f"creating network {self.plan.network}"))
            created.network = client.networks.create(self.plan.network, driver="bridge", labels=labels)
        for volume in self.plan.volumes:
            try:
                client.volumes.get(volume.name)
            except docker.errors.NotFound:
                progress(Progress("create", volume.service, f"creating volume {volume.name}"))
                created.volumes.append(client.volumes.create(
                    volume.name, labels={**labels, SERVICE_LABEL: volume.service}))

    def _start_container(self, client, plan: ContainerPlan, values: dict[str, str], created: _Created,
                         progress: ProgressCallback):
        """Create and start a service's container (not waiting for it)."""
        progress(Progress("create", plan.service, f"creating {plan.name} from {plan.image}"))
        try:
            container = client.containers.create(
                plan.image, command=list(plan.command) or None, entrypoint=list(plan.entrypoint) or None,
                name=plan.name, hostname=plan.name, detach=True, environment=dict(plan.env),
                ports={p.key: (p.host_ip, p.host_port) for p in plan.ports},
                volumes={m.volume: {"bind": m.path, "mode": "rw"} for m in plan.volumes},
                healthcheck=plan.healthcheck.to_docker() if plan.healthcheck else None,
                labels={LABEL: self.plan.spec.name, SERVICE_LABEL: plan.service, CONFIG_LABEL: config_digest(plan)},
                network=self.plan.network, user=plan.user or None, restart_policy={"Name": plan.restart},
                cap_drop=["ALL"], security_opt=["no-new-privileges:true"], mem_limit=plan.memory or None)
        except docker.errors.APIError as exc:
            raise StackError(f"creating the {plan.service} container failed: {explain(exc)}") from exc
        created.containers.append(container)
        if plan.files or plan.secrets:
            progress(Progress("create", plan.service, f"{plan.service}: copying {len(plan.files)} files and "
                                                      f"{len(plan.secrets)} secret files in"))
            if not container.put_archive("/", files_archive(plan.files, plan.secrets, values)):
                raise StackError(f"copying the configuration into {plan.service} failed")
        progress(Progress("start", plan.service, f"starting {plan.service}"))
        try:
            container.start()
        except docker.errors.APIError as exc:
            text = explain(exc)
            if "port is already allocated" in text or "address already in use" in text:
                port = next((p.host_port for p in plan.ports if str(p.host_port) in text),
                            plan.ports[0].host_port if plan.ports else 0)
                raise PortInUse(self._port_message(plan.service, port, text)) from exc
            raise StackError(f"starting {plan.service} failed: {text}") from exc
        return container

    def _until_ready(self, container, plan: ContainerPlan, progress: ProgressCallback,
                     cancel: threading.Event) -> None:
        """Wait until a started container is healthy, then run its post-start steps."""
        self._wait_healthy(container, plan, progress, cancel)
        for step in plan.post_start:
            self._check(cancel)
            progress(Progress("start", plan.service, f"{plan.service}: {step.description}"))
            code, output = container.exec_run(list(step.command), user=step.user or "")
            text = (output or b"").decode(errors="replace").strip()
            if code != 0:
                raise ServiceUnhealthy(f"{plan.service}: {step.description} failed (exit {code}):\n{text[-2000:]}")
            for line in text.splitlines()[-20:]:
                progress(Progress("start", plan.service, f"{plan.service}: {line}"))
        progress(Progress("ready", plan.service, f"{plan.service} is healthy"))

    def _wait_healthy(self, container, plan: ContainerPlan, progress: ProgressCallback,
                      cancel: threading.Event) -> None:
        deadline = time.monotonic() + self.health_timeout_s
        last = None
        while True:
            self._check(cancel)
            container.reload()
            state = container.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status")
            restarts = container.attrs.get("RestartCount", 0)
            if state.get("Status") in ("exited", "dead") or restarts > 0:
                how = (f"stopped with exit code {state.get('ExitCode')}" if not restarts
                       else f"kept stopping (restarted {restarts}×)")
                raise ServiceUnhealthy(f"{plan.service} {how} while starting. Its last log lines:\n"
                                       f"{self._tail(container)}")
            if health == "healthy" or (health is None and state.get("Running")):
                return
            if health == "unhealthy":
                checks = (state.get("Health") or {}).get("Log") or [{}]
                output = (checks[-1].get("Output") or "").strip()[-500:]
                raise ServiceUnhealthy(f"{plan.service} is unhealthy (its health check said: {output or 'nothing'})."
                                       f" Its last log lines:\n{self._tail(container)}")
            if time.monotonic() > deadline:
                raise ServiceUnhealthy(f"{plan.service} was not healthy after {self.health_timeout_s:.0f} s. "
                                       f"Its last log lines:\n{self._tail(container)}")
            if health != last:
                progress(Progress("health", plan.service, f"waiting for {plan.service} ({health or 'starting'})"))
                last = health
            cancel.wait(self.poll_s)

    @staticmethod
    def _tail(container, lines: int = 40) -> str:
        """The end of a container's output, without Java stack frames (they bury the messages)."""
        try:
            text = container.logs(tail=400).decode(errors="replace")
        except docker.errors.APIError as exc:
            return f"(logs unavailable: {explain(exc)})"
        kept = [line for line in text.splitlines()
                if not line.lstrip().startswith(("at ", "... ")) or not line[:1].isspace()]
        return "\n".join(kept[-lines:]).rstrip() or "(no output)"

    def _rollback(self, created: _Created, progress: ProgressCallback) -> None:
        for container in reversed(created.containers):
            progress(Progress("rollback", container.name, f"removing container {container.name}"))
            self._quietly(container.remove, force=True)
        if created.network is not None:
            progress(Progress("rollback", "network", f"removing network {self.plan.network}"))
            self._quietly(created.network.remove)
        for volume in created.volumes:
            progress(Progress("rollback", volume.name, f"removing volume {volume.name}"))
            self._quietly(volume.remove, force=True)

    @staticmethod
    def _quietly(action, **kwargs) -> None:
        try:
            action(**kwargs)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass  # best effort: the start's own error is the one the user needs

    # --- stop, status, logs ---------------------------------------------------------------------------------

    def teardown(self, delete_data: bool = False, progress: ProgressCallback = ignore_progress) -> None:
        """Stop and remove the stack's containers (newest first) and network; its volumes too when ``delete_data``.

        Raises:
            DockerUnavailable: no engine answers.
            StackError: the engine refused to remove something (the message names it).
        """
        client = self.connect()
        order = {name: i for i, name in enumerate(self.plan.services)}
        try:
            containers = client.containers.list(all=True, filters={"label": self._label})
            containers.sort(key=lambda c: order.get(c.labels.get(SERVICE_LABEL, ""), -1), reverse=True)
            for container in containers:
                progress(Progress("stop", container.labels.get(SERVICE_LABEL, container.name),
                                  f"stopping {container.name}"))
                if container.status in ("running", "restarting"):
                    container.stop(timeout=self.stop_timeout_s)
                container.remove(force=True)
            for network in client.networks.list(names=[self.plan.network], filters={"label": self._label}):
                progress(Progress("stop", "network", f"removing network {network.name}"))
                network.remove()
            if delete_data:
                for volume in client.volumes.list(filters={"label": self._label}):
                    progress(Progress("stop", volume.name, f"deleting volume {volume.name}"))
                    volume.remove(force=True)
        except docker.errors.APIError as exc:
            raise StackError(f"stopping the stack failed: {explain(exc)}") from exc
        finally:
            client.close()

    def status(self) -> list[ServiceStatus]:
        """Each planned service's container state and health; ``absent`` without a container, ``skipped``
        for an optional service whose image this engine does not have.

        Raises:
            DockerUnavailable: no engine answers.
        """
        client = self.connect()
        try:
            found = self._existing_readonly(client)
            builder = ImageBuilder(client, self.tree, self.plan.spec.base_image)
            out = []
            for plan in self.plan.containers:
                container = found.get(plan.service)
                if container is None:
                    if plan.optional and not builder.exists(plan.image):
                        out.append(ServiceStatus(plan.service, "skipped", "",
                                                 f"its image {plan.image} is not on this engine"))
                    else:
                        out.append(ServiceStatus(plan.service, "absent"))
                    continue
                state = container.attrs.get("State", {})
                health = (state.get("Health") or {}).get("Status", "")
                details = []
                if state.get("Status") == "exited":
                    details.append(f"exit code {state.get('ExitCode')}")
                restarts = container.attrs.get("RestartCount", 0)
                if restarts:
                    details.append(f"restarted {restarts}×")
                out.append(ServiceStatus(plan.service, state.get("Status", "unknown"), health, ", ".join(details)))
            return out
        finally:
            client.close()

    def _existing_readonly(self, client) -> dict:
        return {c.labels.get(SERVICE_LABEL): c for c in client.containers.list(all=True, filters={"label": self._label})}

    def logs(self, service: str, tail: int = 500) -> str:
        """The last ``tail`` lines of a service's output.

        Raises:
            KeyError: no such service in the plan.
            StackError: the service has no container (the stack is not running).
        """
        name = self.plan.container(service).name
        client = self.connect()
        try:
            container = client.containers.get(name)
            return container.logs(tail=tail).decode(errors="replace")
        except docker.errors.NotFound as exc:
            raise StackError(f"{service} has no container: the stack is not running") from exc
        finally:
            client.close()
