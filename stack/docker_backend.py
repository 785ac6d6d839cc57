"""Applies a :class:`~stack.plan.StackPlan` with the Docker SDK (docker-py), and tears it down.

:class:`DockerStack` does one action at a time and reports each through a progress callback:
pull the pinned images (byte progress per image), build the Flink image from ``resources/``,
create the network and volumes, then per service in start order: create the container, copy its
generated files in, start it, wait until Docker reports it healthy, and run its post-start
commands (topics, bucket). A ``threading.Event`` cancels between steps and while waiting.

Every failure is a :class:`StackError` subclass with a message meant for the user —
:class:`DockerUnavailable`, :class:`PortInUse`, :class:`PullFailed`, :class:`BuildFailed`,
:class:`ServiceUnhealthy`, :class:`StartCancelled` — raised after a rollback that removes what
this start created (containers, network, new volumes); pulled and built images are kept as cache.
Teardown stops and removes the containers and the network, and the volumes only when asked.
"""

from __future__ import annotations

import io
import socket
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

try:
    import docker
    import docker.errors
    import requests.exceptions
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the Docker stack needs the Docker SDK: pip install 'tickerwire[docker]'") from exc

from backend.secrets import NoKeyringError
from stack.backends import (
    BuildFailed, DockerUnavailable, Progress, ProgressCallback, PortInUse, PullFailed, ServiceStatus,
    ServiceUnhealthy, StackError, StartCancelled, ignore_progress,
)
from stack.credentials import StackCredentials
from stack.plan import LABEL, REPO_ROOT, SERVICE_LABEL, ContainerPlan, FileCopy, ImageBuild, Secret, StackPlan


@dataclass
class _Created:
    """What one start created, so that a failure removes exactly that."""

    containers: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    network: object | None = None


def build_context(build: ImageBuild) -> bytes:
    """The build context of ``build`` as an uncompressed tar (the Dockerfile and the job's files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for archive_path, repo_path in build.context:
            data = (REPO_ROOT / repo_path).read_bytes()
            info = tarfile.TarInfo(archive_path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def files_archive(files: tuple[FileCopy, ...]) -> bytes:
    """A tar of generated files with absolute paths made relative, to extract at ``/`` in a container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for copy in files:
            data = copy.content.encode()
            info = tarfile.TarInfo(copy.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), copy.mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


class DockerStack:
    """Brings one :class:`StackPlan` up and down on a Docker engine.

    Args:
        plan: What to create.
        credentials: Called once per start for the secrets the containers need (default: the keyring's).
        base_url: Engine address (default: ``DOCKER_HOST`` or the local socket, as the ``docker`` CLI).
        health_timeout_s: How long one service may take to become healthy.
        poll_s: Interval of the health polling.
        stop_timeout_s: Grace period of ``docker stop`` before the engine kills a container.
    """

    def __init__(self, plan: StackPlan, credentials: Callable[[], StackCredentials] | None = None, *,
                 base_url: str | None = None, health_timeout_s: float = 300.0, poll_s: float = 1.0,
                 stop_timeout_s: int = 20) -> None:
        self.plan = plan
        if credentials is None:
            from stack.credentials import ensure as credentials
        self._credentials = credentials
        self.base_url = base_url
        self.health_timeout_s = health_timeout_s
        self.poll_s = poll_s
        self.stop_timeout_s = stop_timeout_s
        self._label = f"{LABEL}={plan.spec.name}"

    # --- connection -----------------------------------------------------------------------------------------

    def connect(self) -> "docker.DockerClient":
        """A client that has answered ``/_ping``.

        Raises:
            DockerUnavailable: no engine answers at the configured address.
        """
        try:
            client = (docker.DockerClient(base_url=self.base_url, timeout=60) if self.base_url
                      else docker.from_env(timeout=60))
            client.ping()
            return client
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = self.base_url or "the default socket (or DOCKER_HOST)"
            raise DockerUnavailable(
                f"Docker is not reachable at {where}: start Docker (Docker Desktop, or `sudo systemctl start "
                f"docker`) and make sure your user may use it, then press Start again. ({_explain(exc)})") from exc

    # --- start ----------------------------------------------------------------------------------------------

    def apply(self, progress: ProgressCallback = ignore_progress, cancel: threading.Event | None = None) -> None:
        """Bring the whole stack up; on any failure remove what this call created and raise.

        Raises:
            StackError: one of its subclasses, with a message for the user.
        """
        cancel = cancel or threading.Event()
        progress(Progress("connect", "docker", "connecting to Docker"))
        client = self.connect()
        created = _Created()
        try:
            self._remove_leftovers(client, progress)
            self._check_ports()
            try:
                secrets = self._credentials()
            except NoKeyringError as exc:
                raise StackError(f"the stack's credentials cannot be kept: {exc}") from exc
            for ref in self.plan.pulls:
                self._check(cancel)
                self._pull(client, ref, progress, cancel)
            for build in self.plan.builds:
                self._check(cancel)
                self._build(client, build, progress, cancel)
            self._check(cancel)
            self._network_and_volumes(client, created, progress)
            for container in self.plan.containers:
                self._check(cancel)
                self._start_service(client, container, secrets, created, progress, cancel)
            progress(Progress("ready", "stack", "all services are healthy"))
        except BaseException as exc:
            self._rollback(created, progress)
            if isinstance(exc, StackError):
                raise
            if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
                raise StackError(f"Docker refused a step of the start: {_explain(exc)}") from exc
            raise
        finally:
            client.close()

    @staticmethod
    def _check(cancel: threading.Event) -> None:
        if cancel.is_set():
            raise StartCancelled("the start was cancelled; everything it had created was removed")

    def _remove_leftovers(self, client, progress: ProgressCallback) -> None:
        """Containers of this stack from an earlier run (kept volumes are reused, containers are recreated)."""
        for container in client.containers.list(all=True, filters={"label": self._label}):
            progress(Progress("start", container.name, f"removing the old container {container.name}"))
            container.remove(force=True)

    def _check_ports(self) -> None:
        for service, binding in self.plan.host_ports():
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((binding.host_ip, binding.host_port))
                except OSError as exc:
                    raise PortInUse(self._port_message(service, binding.host_port, str(exc))) from exc

    @staticmethod
    def _port_message(service: str, port: int, why: str) -> str:
        return (f"port {port} on 127.0.0.1, which {service} needs, is in use by another program ({why}): "
                "stop that program or give the stack another port, then press Start again")

    def _pull(self, client, ref: str, progress: ProgressCallback, cancel: threading.Event) -> None:
        try:
            client.images.get(ref)
            progress(Progress("pull", ref, f"{ref} is already present", 1, 1))
            return
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise PullFailed(f"could not inspect {ref}: {_explain(exc)}") from exc
        repository, _, tag = ref.rpartition(":")
        layers: dict[str, tuple[int, int]] = {}
        progress(Progress("pull", ref, f"pulling {ref}", 0, None))
        try:
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                self._check(cancel)
                if "error" in event:
                    raise PullFailed(f"pulling {ref} failed: {event['error']}")
                layer, status = event.get("id", ""), event.get("status", "")
                detail = event.get("progressDetail") or {}
                if status == "Downloading" and detail.get("total"):
                    layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
                elif status in ("Download complete", "Pull complete") and layer in layers:
                    layers[layer] = (layers[layer][1], layers[layer][1])
                current = sum(done for done, _ in layers.values())
                total = sum(size for _, size in layers.values())
                progress(Progress("pull", ref, f"{ref}: {layer + ' ' if layer else ''}{status}".strip(),
                                  current, total or None))
        except docker.errors.APIError as exc:
            raise PullFailed(f"pulling {ref} failed: {_explain(exc)} (check the network connection and "
                             "that the registry serves this tag)") from exc
        except requests.exceptions.RequestException as exc:
            raise PullFailed(f"pulling {ref} failed: the connection to Docker broke ({exc})") from exc
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise PullFailed(f"pulling {ref} ended but the image is not there") from exc
        progress(Progress("pull", ref, f"pulled {ref}", total or 1, total or 1))

    def _build(self, client, build: ImageBuild, progress: ProgressCallback, cancel: threading.Event) -> None:
        try:
            client.images.get(build.tag)
            progress(Progress("build", build.tag, f"{build.tag} is already built"))
            return
        except docker.errors.ImageNotFound:
            pass
        progress(Progress("build", build.tag, f"building {build.tag} (Flink, PyFlink, Kafka connector, job)"))
        tail: list[str] = []
        try:
            stream = client.api.build(fileobj=io.BytesIO(build_context(build)), custom_context=True,
                                      tag=build.tag, buildargs=dict(build.buildargs), rm=True, forcerm=True,
                                      decode=True, labels={LABEL: self.plan.spec.name})
            for event in stream:
                self._check(cancel)
                if "error" in event:
                    detail = "\n".join(tail[-15:])
                    raise BuildFailed(f"building the Flink image failed: {event['error'].strip()}\n{detail}")
                line = (event.get("stream") or event.get("status") or "").rstrip()
                if line:
                    tail.append(line)
                    progress(Progress("build", build.tag, line))
        except docker.errors.APIError as exc:
            raise BuildFailed(f"building the Flink image failed: {_explain(exc)}") from exc
        try:
            client.images.get(build.tag)
        except docker.errors.ImageNotFound as exc:
            raise BuildFailed(f"the build of {build.tag} ended without an image:\n" + "\n".join(tail[-15:])) from exc

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

    def _environment(self, container: ContainerPlan, secrets: StackCredentials) -> dict[str, str]:
        return {key: secrets.get(value.key) if isinstance(value, Secret) else value for key, value in container.env}

    def _start_service(self, client, plan: ContainerPlan, secrets: StackCredentials, created: _Created,
                       progress: ProgressCallback, cancel: threading.Event) -> None:
        progress(Progress("create", plan.service, f"creating {plan.name} from {plan.image}"))
        try:
            container = client.containers.create(
                plan.image, command=list(plan.command) or None, name=plan.name, detach=True,
                environment=self._environment(plan, secrets),
                ports={p.key: (p.host_ip, p.host_port) for p in plan.ports},
                volumes={m.volume: {"bind": m.path, "mode": "rw"} for m in plan.volumes},
                healthcheck=plan.healthcheck.to_docker() if plan.healthcheck else None,
                labels={LABEL: self.plan.spec.name, SERVICE_LABEL: plan.service},
                network=self.plan.network, user=plan.user or None)
        except docker.errors.APIError as exc:
            raise StackError(f"creating the {plan.service} container failed: {_explain(exc)}") from exc
        created.containers.append(container)
        if plan.files:
            if not container.put_archive("/", files_archive(plan.files)):
                raise StackError(f"copying the configuration into {plan.service} failed")
        progress(Progress("start", plan.service, f"starting {plan.service}"))
        try:
            container.start()
        except docker.errors.APIError as exc:
            text = _explain(exc)
            if "port is already allocated" in text or "address already in use" in text:
                port = next((p.host_port for p in plan.ports if str(p.host_port) in text),
                            plan.ports[0].host_port if plan.ports else 0)
                raise PortInUse(self._port_message(plan.service, port, text)) from exc
            raise StackError(f"starting {plan.service} failed: {text}") from exc
        self._wait_healthy(container, plan, progress, cancel)
        for step in plan.post_start:
            self._check(cancel)
            progress(Progress("start", plan.service, f"{plan.service}: {step.description}"))
            code, output = container.exec_run(list(step.command))
            if code != 0:
                text = (output or b"").decode(errors="replace").strip()[-2000:]
                raise ServiceUnhealthy(f"{plan.service}: {step.description} failed (exit {code}):\n{text}")
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
            if state.get("Status") in ("exited", "dead"):
                raise ServiceUnhealthy(f"{plan.service} stopped with exit code {state.get('ExitCode')} while "
                                       f"starting. Its last log lines:\n{self._tail(container)}")
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
    def _tail(container, lines: int = 30) -> str:
        try:
            return container.logs(tail=lines).decode(errors="replace").rstrip() or "(no output)"
        except docker.errors.APIError as exc:
            return f"(logs unavailable: {_explain(exc)})"

    def _rollback(self, created: _Created, progress: ProgressCallback) -> None:
        for container in reversed(created.containers):
            progress(Progress("rollback", container.name, f"removing {container.name}"))
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
        """Stop and remove the stack's containers and network; its volumes too when ``delete_data``.

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
                if container.status == "running":
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
            raise StackError(f"stopping the stack failed: {_explain(exc)}") from exc
        finally:
            client.close()

    def status(self) -> list[ServiceStatus]:
        """Each planned service's container state and health (``absent`` when there is no container).

        Raises:
            DockerUnavailable: no engine answers.
        """
        client = self.connect()
        try:
            found = {c.labels.get(SERVICE_LABEL): c
                     for c in client.containers.list(all=True, filters={"label": self._label})}
        finally:
            client.close()
        out = []
        for service in self.plan.services:
            container = found.get(service)
            if container is None:
                out.append(ServiceStatus(service, "absent"))
                continue
            state = container.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status", "")
            detail = f"exit code {state.get('ExitCode')}" if state.get("Status") == "exited" else ""
            out.append(ServiceStatus(service, state.get("Status", "unknown"), health, detail))
        return out

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
