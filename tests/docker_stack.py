"""Fixtures on a real Docker engine: ``docker_engine`` and the session's ``running_stack``.

Registered for the whole suite by ``tests/conftest.py``. Where no engine answers, tests that need
one are skipped — except when ``TICKERWIRE_REQUIRE_DOCKER`` is set (``.ci/run`` sets it), where
that is a failure with the reason: CI always runs them.

``running_stack`` brings the whole stack up once per session, from the command line's code
(``tickerwire stack up``), under the stack name ``twtest`` on free ports, with its own
credentials; it yields a :class:`RunningStack` (the backend, the host endpoints, the credentials,
the pyiceberg catalog properties) and deletes everything (containers, volumes) at the end::

    def test_something(running_stack):
        access = running_stack.access          # stack.access.StackAccess
        access.endpoints.kafka_bootstrap       # "127.0.0.1:<port>"
        access.influx_token                    # "admin:<password>"
        load_catalog("t", **access.catalog_properties())
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import time
from dataclasses import dataclass, field

import pytest

#: Set (by .ci/run) to make a missing engine fail the tests that need one instead of skipping them.
REQUIRE_ENV = "TICKERWIRE_REQUIRE_DOCKER"
#: The test session's stack name (never the user's ``tickerwire``).
TEST_STACK = "twtest"


def engine_problem() -> str:
    """Why no Docker engine can be used here ('' when one answers)."""
    from stack.engine import docker_problem

    return docker_problem()


def need_engine() -> None:
    """Skip (or, under ``TICKERWIRE_REQUIRE_DOCKER``, fail) when no engine answers."""
    problem = engine_problem()
    if not problem:
        return
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{REQUIRE_ENV} is set but no Docker engine answers: {problem}", pytrace=False)
    pytest.skip(f"needs a Docker engine: {problem}")


def remove_stack_objects(client, name: str) -> None:
    """Remove every container, network and volume labelled as stack ``name``'s."""
    from stack.plan.spec import LABEL

    for container in client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": f"{LABEL}={name}"}):
        network.remove()
    for volume in client.volumes.list(filters={"label": f"{LABEL}={name}"}):
        volume.remove(force=True)


def random_credentials():
    """Fresh random credentials (tests never touch the user's keyring or credentials file)."""
    from stack.credentials import NAMES, StackCredentials

    return StackCredentials(**{name: ("tw" + secrets.token_hex(8) if name == "s3_access_key"
                                      else secrets.token_urlsafe(24)) for name in NAMES})


def make_backend(name: str, home, **spec_changes):
    """A :class:`~stack.docker_backend.DockerBackend` for a test stack on free ports, with its own credentials."""
    from dataclasses import fields

    from stack.docker_backend import DockerBackend, spec_from_environment
    from stack.local import free_ports
    from stack.plan.spec import Ports

    creds = random_credentials()
    spec = spec_from_environment(name=name, ports=Ports(*free_ports(len(fields(Ports)))), **spec_changes)
    return DockerBackend(spec, home=home, credentials=lambda: creds, health_timeout_s=900)


@dataclass
class RunningStack:
    """The session's stack: its backend, what ``stack up`` printed and how long it took."""

    backend: object
    output: str
    startup_s: float
    progress_times: list[float] = field(default_factory=list)

    @property
    def access(self):
        """:class:`stack.access.StackAccess`: endpoints and credentials."""
        return self.backend.access()

    @property
    def endpoints(self):
        return self.access.endpoints

    @property
    def credentials(self):
        return self.access.credentials

    def wait_healthy(self, timeout_s: float = 300.0, services: tuple[str, ...] = ()) -> dict:
        """Block until every service (or those named) is running and healthy; return the statuses."""
        deadline = time.monotonic() + timeout_s
        while True:
            statuses = {s.service: s for s in self.backend.status()}
            wanted = services or tuple(s for s, st in statuses.items() if st.state != "skipped")
            if all(statuses[s].state == "running" and statuses[s].health == "healthy" for s in wanted):
                return statuses
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout_s:.0f} s: {statuses}")
            time.sleep(2)


class _TimedOutput(io.StringIO):
    """Records when each line of ``stack up``'s output arrived (progress must flow throughout)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def write(self, text: str) -> int:
        self.times.extend(time.monotonic() for _ in range(text.count("\n")))
        return super().write(text)


def stack_up(backend) -> tuple[int, str, list[float], float]:
    """Run ``tickerwire stack up`` on ``backend``: (exit status, output, line times, seconds)."""
    from stack.cli import run

    out, err = _TimedOutput(), io.StringIO()
    started = time.monotonic()
    status = run(argparse.Namespace(stack_command="up", timeout=900.0, base_image=None, build_ca=None),
                 out=out, err=err, backend=backend)
    return status, out.getvalue() + err.getvalue(), [t - started for t in out.times], time.monotonic() - started


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine answers (else skip, or fail under ``TICKERWIRE_REQUIRE_DOCKER``)."""
    need_engine()


@contextlib.contextmanager
def stack_running(backend):
    """``backend``'s stack up (after removing leftovers of an interrupted run) as a :class:`RunningStack`, and
    removed with its data afterwards; a failed ``stack up`` fails the test with its output."""
    backend.stop(delete_data=True)
    status, output, times, seconds = stack_up(backend)
    if status != 0:
        backend.stop(delete_data=True)
        pytest.fail(f"`tickerwire stack up` failed (exit {status}):\n{output[-6000:]}", pytrace=False)
    try:
        yield RunningStack(backend, output, seconds, times)
    finally:
        backend.stop(delete_data=True)


@pytest.fixture(scope="session")
def running_stack(docker_engine, tmp_path_factory):
    """The whole stack, up once per session on the real engine; removed with its data at the end."""
    with stack_running(make_backend(TEST_STACK, tmp_path_factory.mktemp("stack-home"))) as running:
        yield running

