"""How :class:`stack.apply.DockerStack` fails, on a real engine, with small plans of the base image.

Each start that fails must raise a typed error whose message names the step and the reason, and
leave nothing it created behind (containers, network, new volumes), while a volume from an earlier
start stays. These plans run ``sleep`` in the Debian base image, so each test takes seconds.
"""

from __future__ import annotations

import socket
import threading

import pytest
from docker_stack import need_engine, remove_stack_objects, random_credentials

from stack.apply import DockerStack
from stack.local import free_ports
from stack.plan.model import ContainerPlan, ExecStep, HealthCheck, PortBinding, StackPlan, VolumeMount, VolumePlan
from stack.plan.spec import LABEL, StackSpec
from stack.repo import RepoTree
from stack.types import DockerUnavailable, PortInUse, ServiceUnhealthy, StartCancelled

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]
NAME = "twmini"


@pytest.fixture(scope="module")
def base_image():
    """The Debian image of this machine's stack builds (pulled when absent, where a registry is reachable)."""
    need_engine()
    from stack.build import ImageBuilder
    from stack.docker_backend import spec_from_environment
    from stack.engine import connect

    image = spec_from_environment().base_image
    client = connect()
    try:
        ImageBuilder(client, RepoTree(), image).pull(image, lambda e: None, threading.Event())
    finally:
        client.close()
    return image


@pytest.fixture
def client(base_image):
    from stack.engine import connect

    client = connect()
    yield client
    remove_stack_objects(client, NAME)
    client.close()


def _service(base_image: str, service: str, **changes) -> ContainerPlan:
    fields = dict(service=service, name=f"{NAME}-{service}", image=base_image, command=("sleep", "600"),
                  healthcheck=HealthCheck(("true",), interval_s=1, timeout_s=2, retries=3, start_period_s=0),
                  volumes=(VolumeMount(f"{NAME}-{service}-data", "/data"),))
    fields.update(changes)
    return ContainerPlan(**fields)


def _stack(*services: ContainerPlan, health_timeout_s: float = 60, base_url: str | None = None) -> DockerStack:
    spec = StackSpec(name=NAME)
    volumes = tuple(VolumePlan(m.volume, s.service) for s in services for m in s.volumes)
    plan = StackPlan(spec, f"{NAME}-net", volumes, (), tuple(services))
    creds = random_credentials()
    return DockerStack(plan, RepoTree(), lambda: creds, base_url=base_url, health_timeout_s=health_timeout_s,
                       poll_s=0.2, stop_timeout_s=1)


def _leftovers(client) -> dict[str, list[str]]:
    """What of the test stack is left, by kind, sorted by name (the engine lists in no fixed order)."""
    return {"containers": sorted(c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}={NAME}"})),
            "networks": sorted(n.name for n in client.networks.list(filters={"label": f"{LABEL}={NAME}"})),
            "volumes": sorted(v.name for v in client.volumes.list(filters={"label": f"{LABEL}={NAME}"}))}


def test_a_stack_comes_up_again_without_changes_and_teardown_keeps_or_deletes_volumes(client, base_image):
    stack = _stack(_service(base_image, "a"), _service(base_image, "b", depends_on=("a",)))
    events = []
    assert stack.apply(events.append) == []
    first = {c.name: c.id for c in client.containers.list(filters={"label": f"{LABEL}={NAME}"})}
    assert set(first) == {"twmini-a", "twmini-b"}
    assert [(s.service, s.state, s.health) for s in stack.status()] == [("a", "running", "healthy"),
                                                                      ("b", "running", "healthy")]
    events.clear()
    stack.apply(events.append)  # nothing changed: the running containers are kept
    assert {c.name: c.id for c in client.containers.list(filters={"label": f"{LABEL}={NAME}"})} == first
    assert [e.message for e in events if e.phase == "ready"][:2] == ["a is already running", "b is already running"]
    stack.teardown(delete_data=False)
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": ["twmini-a-data", "twmini-b-data"]}
    stack.teardown(delete_data=True)
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_no_engine_is_reported_as_docker_not_found():
    dead = free_ports(1)[0]
    stack = _stack(_service("debian:bookworm-slim", "a"), base_url=f"tcp://127.0.0.1:{dead}")
    with pytest.raises(DockerUnavailable, match=rf"Docker not found: no Docker engine answers at tcp://127.0.0.1:{dead}"):
        stack.apply()
    with pytest.raises(DockerUnavailable):
        stack.status()


def test_a_port_in_use_stops_the_start_before_anything_is_created(client, base_image):
    port = free_ports(1)[0]
    stack = _stack(_service(base_image, "a", ports=(PortBinding(80, port),)))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1, which a needs, is in use by another program"):
            stack.apply()
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_an_unhealthy_service_rolls_back_what_the_start_created_and_keeps_older_volumes(client, base_image):
    good = _service(base_image, "a")
    _stack(good).apply()
    _stack(good).teardown(delete_data=False)  # a's volume is data of an earlier start
    bad = _service(base_image, "b", healthcheck=HealthCheck(("sh", "-c", "echo no database here; exit 1"),
                                                            interval_s=1, timeout_s=2, retries=2, start_period_s=0))
    events = []
    with pytest.raises(ServiceUnhealthy, match=r"b is unhealthy \(its health check said: no database here\)"):
        _stack(good, bad).apply(events.append)
    assert [e.subject for e in events if e.phase == "rollback"] == ["twmini-b", "twmini-a", "network",
                                                                    "twmini-b-data"]
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": ["twmini-a-data"]}


def test_a_service_that_exits_while_starting_shows_its_exit_code_and_output(client, base_image):
    crash = _service(base_image, "a", command=("sh", "-c", "echo fatal: no config; exit 3"), restart="no")
    with pytest.raises(ServiceUnhealthy, match="a stopped with exit code 3 while starting") as failed:
        _stack(crash).apply()
    assert "fatal: no config" in str(failed.value)
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_a_crash_looping_service_is_reported_as_such(client, base_image):
    crash = _service(base_image, "a", command=("sh", "-c", "echo bad flag; exit 2"))  # unless-stopped: restarts
    with pytest.raises(ServiceUnhealthy, match=r"a kept stopping \(restarted \d+×\) while starting") as failed:
        _stack(crash).apply()
    assert "bad flag" in str(failed.value)
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_a_service_that_never_becomes_healthy_times_out(client, base_image):
    slow = _service(base_image, "a", healthcheck=HealthCheck(("false",), interval_s=1, retries=1000,
                                                           start_period_s=100))
    with pytest.raises(ServiceUnhealthy, match=r"a was not healthy after 3 s"):
        _stack(slow, health_timeout_s=3).apply()
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_a_failed_post_start_step_is_reported_with_its_output(client, base_image):
    step = ExecStep("create the topics", ("sh", "-c", "echo Timed out waiting for the broker; exit 1"))
    with pytest.raises(ServiceUnhealthy, match="a: create the topics failed \\(exit 1\\):\nTimed out waiting"):
        _stack(_service(base_image, "a", post_start=(step,))).apply()
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}


def test_a_start_cancelled_half_way_removes_what_it_created(client, base_image):
    cancel = threading.Event()

    def cancel_at_b(event):
        if event.phase == "start" and event.subject == "b":
            cancel.set()

    stack = _stack(_service(base_image, "a"), _service(base_image, "b", depends_on=("a",)))
    with pytest.raises(StartCancelled, match="cancelled"):
        stack.apply(cancel_at_b, cancel)
    assert _leftovers(client) == {"containers": [], "networks": [], "volumes": []}
