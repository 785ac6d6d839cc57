"""The plan's data model: what Docker must build and create, as frozen, printable values.

A :class:`StackPlan` holds the network, the volumes, the image builds (parents first), the
optional images to pull and the containers in start order. Each :class:`ContainerPlan` says
everything about one container: image, command, environment (never a secret), ports (127.0.0.1
only), volumes, health check, restart policy, generated files, secret files, and commands to run
once it is healthy. Secrets are :class:`SecretFile` templates naming credentials; their values are
filled in only when the plan is applied, so a plan can be printed, logged and compared.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Protocol

from stack.plan.spec import PlanError, StackSpec

#: Where secret files go inside a container (a directory only the service user can read).
SECRETS_DIR = "/run/secrets/tickerwire"


class SourceTree(Protocol):
    """Read access to the files an image build needs (the repository, or a test's dictionary).

    Paths are repository-relative with ``/`` separators; an absolute path names a file outside
    the repository (the extra CA file).
    """

    def read(self, path: str) -> bytes:
        """The file's bytes; raises FileNotFoundError when there is none."""

    def files(self, prefix: str) -> list[str]:
        """Every file under directory ``prefix``, sorted."""


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
    """A generated file (no secret) copied into the container after create and before start."""

    path: str
    content: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class SecretFile:
    """A file holding credentials, written into the container before it starts (mode 0400, the service's user).

    Attributes:
        path: Where it goes in the container.
        template: The content, with ``{name}`` placeholders for credentials (see :mod:`stack.credentials`).
        uid: Owner (the service's user).
        gid: Group.
    """

    path: str
    template: str
    uid: int
    gid: int
    mode: int = 0o400

    def keys(self) -> set[str]:
        """The credentials the file needs."""
        return {name for _, name, _, _ in string.Formatter().parse(self.template) if name}


@dataclass(frozen=True)
class ExecStep:
    """A command run in a container once it is healthy (no secret in its arguments)."""

    description: str
    command: tuple[str, ...]
    user: str = ""


@dataclass(frozen=True)
class ImageBuild:
    """An image the project builds: a Dockerfile and the files of its build context.

    Attributes:
        name: Short name (``base``, ``java``, ``kafka``…).
        tag: ``tickerwire/<name>:<version>-<digest>``; the digest covers the context, the build
            arguments and the parent's tag, so a changed input rebuilds and an unchanged tree reuses.
        context: (path in the build context, source path) pairs; an empty source is an empty file.
        buildargs: ``ARG`` values (versions, parent image tags; never secrets).
        parent: Name of the build this one builds FROM ('' for the base image).
    """

    name: str
    tag: str
    context: tuple[tuple[str, str], ...]
    buildargs: tuple[tuple[str, str], ...]
    parent: str = ""


@dataclass(frozen=True)
class ContainerPlan:
    """One container of the stack.

    Attributes:
        build: Name of the :class:`ImageBuild` that makes the image ('' for a pulled image).
        optional: True for a service the stack runs without when its image cannot be had (Grafana).
        restart: Docker's restart policy (crashes); ``docker kill`` is handled by the supervisor.
    """

    service: str
    name: str
    image: str
    build: str = ""
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortBinding, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    healthcheck: HealthCheck | None = None
    depends_on: tuple[str, ...] = ()
    files: tuple[FileCopy, ...] = ()
    secrets: tuple[SecretFile, ...] = ()
    post_start: tuple[ExecStep, ...] = ()
    user: str = ""
    optional: bool = False
    restart: str = "unless-stopped"
    memory: str = ""

    def env_dict(self) -> dict[str, str]:
        """The environment as a dict."""
        return dict(self.env)

    def secret_keys(self) -> set[str]:
        """The credentials this container's secret files need."""
        return set().union(*(s.keys() for s in self.secrets)) if self.secrets else set()


@dataclass(frozen=True)
class VolumePlan:
    """A named volume that holds a service's data (kept on stop unless the user deletes data)."""

    name: str
    service: str


@dataclass(frozen=True)
class StackPlan:
    """Everything :mod:`stack.apply` does, in order."""

    spec: StackSpec
    network: str
    volumes: tuple[VolumePlan, ...]
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

    def build(self, name: str) -> ImageBuild:
        """The image build called ``name``.

        Raises:
            KeyError: no such build.
        """
        for build in self.builds:
            if build.name == name:
                return build
        raise KeyError(f"no image build {name!r} in the plan")

    def builds_for(self, service: str) -> tuple[ImageBuild, ...]:
        """The builds ``service``'s image needs, parents first (empty for a pulled image)."""
        chain: list[ImageBuild] = []
        name = self.container(service).build
        while name:
            build = self.build(name)
            chain.insert(0, build)
            name = build.parent
        return tuple(chain)

    def host_ports(self) -> tuple[tuple[str, PortBinding], ...]:
        """(service, binding) for every published port."""
        return tuple((c.service, p) for c in self.containers for p in c.ports)


@dataclass(frozen=True)
class Names:
    """Docker object names of one stack: ``<stack>-<service>``, ``<stack>-<volume>``, ``<stack>-net``."""

    stack: str

    @property
    def network(self) -> str:
        return f"{self.stack}-net"

    def container(self, service: str) -> str:
        return f"{self.stack}-{service}"

    def volume(self, what: str) -> str:
        return f"{self.stack}-{what}"


def start_waves(containers: list[ContainerPlan]) -> list[list[ContainerPlan]]:
    """``containers`` (in start order) in waves: each wave depends only on earlier ones, so a wave's
    containers start together and are waited for together."""
    depth: dict[str, int] = {}
    waves: list[list[ContainerPlan]] = []
    for container in containers:
        level = 1 + max((depth[d] for d in container.depends_on if d in depth), default=-1)
        depth[container.service] = level
        if level == len(waves):
            waves.append([])
        waves[level].append(container)
    return waves


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
