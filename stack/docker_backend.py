"""The Docker stack as a :class:`~stack.types.StackBackend`: plan, apply, supervise, report.

:class:`DockerBackend` is what the Stack tab and ``tickerwire stack`` drive. It plans the stack
(:func:`stack.plan.plan` over the repository), applies it (:class:`stack.apply.DockerStack`) with the
credentials of :mod:`stack.credentials`, and keeps the supervisor (:mod:`stack.supervisor`) running
while the stack is up. :meth:`DockerBackend.access` hands the pipeline a running stack's addresses
and credentials (:class:`stack.access.StackAccess`).

The spec comes from the environment by default (:func:`spec_from_environment`):
``TICKERWIRE_BASE_IMAGE`` (the Debian image the builds start from) and ``TICKERWIRE_BUILD_CA``
(a PEM file of extra CA certificates for the builds).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Callable

from backend.settings import tickerwire_home
from stack import credentials as stack_credentials
from stack import supervisor
from stack.access import StackAccess
from stack.apply import DockerStack
from stack.plan import plan
from stack.plan.model import SourceTree
from stack.plan.spec import StackSpec, endpoints
from stack.repo import RepoTree
from stack.types import Endpoints, ProgressCallback, ServiceStatus, StackError

BASE_IMAGE_ENV = "TICKERWIRE_BASE_IMAGE"
BUILD_CA_ENV = "TICKERWIRE_BUILD_CA"


def spec_from_environment(**changes) -> StackSpec:
    """The default spec, with the base image and extra CA of the environment, and ``changes``."""
    spec = StackSpec()
    env = {"base_image": os.environ.get(BASE_IMAGE_ENV, ""), "extra_ca_file": os.environ.get(BUILD_CA_ENV, "")}
    return dataclasses.replace(spec, **{k: v for k, v in env.items() if v}, **changes)


class DockerBackend:
    """The full stack in Docker containers.

    Args:
        spec: The stack (default :func:`spec_from_environment`).
        home: The app's data directory (credentials file without a keyring, supervisor state);
            default ``$TICKERWIRE_HOME``.
        tree: Where image builds read their context (default: this repository).
        credentials: Returns the stack's credentials (default: :func:`stack.credentials.ensure`).
        notice: Told things the user should know once (where credentials are kept without a keyring).
        supervise: Run the supervisor while the stack is up (tests of a single start may turn it off).
        **options: Passed to :class:`~stack.apply.DockerStack` (``base_url``, timeouts).
    """

    name = "Docker"

    def __init__(self, spec: StackSpec | None = None, *, home: Path | None = None, tree: SourceTree | None = None,
                 credentials: Callable[[], stack_credentials.StackCredentials] | None = None,
                 notice: Callable[[str], None] | None = None, supervise: bool = True, **options) -> None:
        self.spec = spec or spec_from_environment()
        self.home = Path(home) if home else tickerwire_home()
        self.tree = tree or RepoTree()
        self.plan = plan(self.spec, self.tree)
        self.services = self.plan.services
        self._notice = notice
        self._credentials = credentials or (
            lambda: stack_credentials.ensure(self.home, self._notice, self.spec.name))
        self._stack = DockerStack(self.plan, self.tree, self._credentials, **options)
        self._supervise = supervise

    @property
    def base_url(self) -> str | None:
        """The engine's address (None: ``DOCKER_HOST`` or the default socket)."""
        return self._stack.base_url

    @property
    def state_dir(self) -> Path:
        """Where the supervisor's pid file and log live."""
        return self.home / "stack"

    def start(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        """Build what is missing, start every service in order, then the supervisor."""
        self._stack.apply(progress, cancel)
        if self._supervise:
            supervisor.start(self.state_dir, self.spec.name, self.base_url)

    def stop(self, delete_data: bool) -> None:
        """Stop the supervisor, then the containers; with ``delete_data`` also the volumes and the credentials
        (the next start is a new install, with new secrets)."""
        supervisor.stop(self.state_dir, self.spec.name)
        self._stack.teardown(delete_data)
        if delete_data:
            stack_credentials.forget(self.home, self.spec.name)

    def status(self) -> list[ServiceStatus]:
        return self._stack.status()

    def supervised(self) -> bool:
        """True while this stack's supervisor process runs."""
        return supervisor.running_pid(self.state_dir, self.spec.name) is not None

    def logs(self, service: str) -> str:
        return self._stack.logs(service)

    def endpoints(self) -> Endpoints:
        """The host addresses; without Grafana (skipped), no dashboard and the reason instead."""
        found = endpoints(self.spec)
        grafana = next((s for s in self.status() if s.service == "grafana"), None)
        if grafana is not None and grafana.state == "skipped":
            return dataclasses.replace(found, grafana_url="", dashboard_url="",
                                       grafana_note=f"Grafana is not part of this stack: {grafana.detail}.")
        return found

    def access(self) -> StackAccess:
        """Addresses and credentials of the stack, for the pipeline (the credentials are made if this
        install has none yet, as :meth:`start` would).

        Raises:
            StackError: the credentials cannot be kept (the keyring or the file refused them).
        """
        try:
            creds = self._credentials()
        except Exception as exc:  # NoKeyringError or an unreadable credentials file
            raise StackError(f"the stack's credentials cannot be read: {exc}") from exc
        return StackAccess(self.endpoints(), creds)
