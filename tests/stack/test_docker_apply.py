"""Apply and teardown through the real Docker SDK against a fake Engine API server (no engine exists here).

The fixture :class:`fakes.docker_engine.FakeDockerEngine` answers docker-py's calls in the documented
Engine API formats; every failure path of :class:`stack.docker_backend.DockerStack` is driven through
it and must end with a typed error, a clear message and nothing left behind. The last test, marked
``docker``, runs the real stack on a real engine where one exists.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from fakes.docker_engine import FakeDockerEngine
from stack.backends import (
    BuildFailed, DockerUnavailable, PortInUse, PullFailed, ServiceUnhealthy, StackError, StartCancelled,
)
from stack.credentials import StackCredentials
from stack.docker_backend import DockerStack, build_context
from stack.plan import Ports, StackSpec, plan

CREDENTIALS = StackCredentials("influx-password-123", "influx-token-456", "twaccess789", "s3-secret-abc",
                               "grafana-password-def")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def make_spec(name: str = "twtest") -> StackSpec:
    ports = free_ports(7)
    return StackSpec(name=name, ports=Ports(*ports))


@pytest.fixture
def engine():
    with FakeDockerEngine() as fake:
        yield fake


@pytest.fixture
def stack(engine):
    return DockerStack(plan(make_spec()), lambda: CREDENTIALS, base_url=engine.url, poll_s=0.01,
                       health_timeout_s=10)


class Recorder:
    """A progress callback that keeps every event and can act when one arrives."""

    def __init__(self, on=None) -> None:
        self.events = []
        self.on = on

    def __call__(self, event) -> None:
        self.events.append(event)
        if self.on:
            self.on(event)

    def messages(self) -> str:
        return "\n".join(e.message for e in self.events)


def created_names(engine) -> list[str]:
    return [q["name"] for method, path, q in engine.requests if (method, path) == ("POST", "/containers/create")]


def assert_nothing_left(engine, volumes_before=()):
    assert engine.containers == {}
    assert engine.networks == {}
    assert set(engine.volumes) == set(volumes_before)


def test_apply_brings_every_service_up_in_order_then_teardown_keeps_or_deletes_data(engine, stack):
    progress = Recorder()
    stack.apply(progress)
    the_plan = stack.plan
    assert created_names(engine) == [c.name for c in the_plan.containers]
    running = {c.name: c for c in engine.containers.values()}
    assert {c.status for c in running.values()} == {"running"}

    for container in the_plan.containers:  # env resolved from the credentials, ports on loopback, labels
        config = running[container.name].config
        env = dict(item.split("=", 1) for item in config["Env"])
        for key, value in container.env:
            assert env[key] == (CREDENTIALS.get(value.key) if hasattr(value, "key") else value)
        assert config["Labels"]["io.tickerwire.service"] == container.service
        bindings = running[container.name].host_config.get("PortBindings") or {}
        assert {k: v[0]["HostIp"] for k, v in bindings.items()} == {p.key: "127.0.0.1" for p in container.ports}
        assert config["Healthcheck"]["Test"][0] == "CMD"
    for _, binding in the_plan.host_ports():  # the published ports really listen
        with socket.create_connection(("127.0.0.1", binding.host_port), timeout=2):
            pass

    grafana = running[the_plan.container("grafana").name]
    dashboard = json.loads(grafana.files["/etc/grafana/dashboards/tickerwire.json"])
    assert dashboard["uid"] == "tickerwire"
    influx = running[the_plan.container("influxdb").name]
    assert "/docker-entrypoint-initdb.d/tickerwire-pipeline-metrics.sh" in influx.files
    commands = [" ".join(e["Cmd"]) for e in engine.execs.values()]
    assert any("kafka-topics.sh" in c and "--topic stock-prices" in c for c in commands)
    assert any("mc mb --ignore-existing local/warehouse" in c for c in commands)

    build = engine.builds[0]
    assert build["tag"] == the_plan.builds[0].tag and "job/resources/flink/candles_job.py" in build["files"]
    assert build["buildargs"]["PYFLINK_VERSION"] and build["labels"] == {"io.tickerwire.stack": "twtest"}
    pulls = [e for e in progress.events if e.phase == "pull" and e.subject == "influxdb:2.7.12" and e.total]
    assert pulls[-1].current == pulls[-1].total == 24_000_000
    assert [e.current for e in pulls] == sorted(e.current for e in pulls)
    assert progress.events[-1].message == "all services are healthy"
    assert all(secret not in progress.messages() for secret in vars(CREDENTIALS).values())

    status = stack.status()
    assert [(s.service, s.state, s.health) for s in status] == [(s, "running", "healthy") for s in the_plan.services]
    assert "started" in stack.logs("kafka")

    stack.teardown(delete_data=False)
    assert engine.containers == {} and engine.networks == {}
    assert set(engine.volumes) == {v.name for v in the_plan.volumes}
    assert [s.state for s in stack.status()] == ["absent"] * len(the_plan.services)
    with pytest.raises(StackError, match="not running"):
        stack.logs("kafka")

    engine.requests.clear()
    stack.apply()  # images are cached and the volumes are reused
    assert not any(path in ("/images/create", "/build", "/volumes/create") for _, path, _ in engine.requests)
    stack.teardown(delete_data=True)
    assert_nothing_left(engine)


def test_start_replaces_leftover_containers_of_the_same_stack(engine, stack):
    stack.apply()
    first = {c.name: c.id for c in engine.containers.values()}
    stack.apply()
    second = {c.name: c.id for c in engine.containers.values()}
    assert first.keys() == second.keys() and not set(first.values()) & set(second.values())


def test_no_docker_daemon_is_reported_clearly():
    dead_port = free_ports(1)[0]
    stack = DockerStack(plan(make_spec()), lambda: CREDENTIALS, base_url=f"tcp://127.0.0.1:{dead_port}")
    with pytest.raises(DockerUnavailable, match="Docker is not reachable at tcp://127.0.0.1") as caught:
        stack.apply()
    assert "start Docker" in str(caught.value)
    with pytest.raises(DockerUnavailable):
        stack.status()


def test_a_port_in_use_stops_the_start_before_anything_is_created(engine, stack):
    grafana_port = stack.plan.spec.ports.grafana
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", grafana_port))
        squatter.listen()
        with pytest.raises(PortInUse, match=f"port {grafana_port} on 127.0.0.1, which grafana needs, is in use"):
            stack.apply()
    assert_nothing_left(engine)
    assert not any(path == "/images/create" for _, path, _ in engine.requests)


def test_a_port_taken_after_the_check_is_reported_by_the_engine_and_rolled_back(engine, stack):
    port = stack.plan.spec.ports.influxdb
    squatter = socket.socket()

    def take_port(event):
        if event.phase == "create" and event.subject == "influxdb" and event.message.startswith("creating tw"):
            squatter.bind(("127.0.0.1", port))
            squatter.listen()

    try:
        with pytest.raises(PortInUse, match=f"port {port}.*influxdb.*port is already allocated"):
            stack.apply(Recorder(take_port))
    finally:
        squatter.close()
    assert_nothing_left(engine)


def test_an_unknown_image_fails_the_pull_with_the_registry_message(engine, stack):
    engine.unknown_images.add("grafana/grafana:11.6.0")
    with pytest.raises(PullFailed, match="pulling grafana/grafana:11.6.0 failed: .*manifest unknown"):
        stack.apply()
    assert_nothing_left(engine)


def test_a_pull_that_breaks_mid_stream_fails_cleanly(engine, stack):
    engine.pull_errors["influxdb:2.7.12"] = "read tcp 10.0.0.2:50000: connection reset by peer"
    progress = Recorder()
    with pytest.raises(PullFailed, match="pulling influxdb:2.7.12 failed: read tcp .* connection reset"):
        stack.apply(progress)
    partial = [e for e in progress.events if e.subject == "influxdb:2.7.12" and e.total]
    assert partial and partial[-1].current < partial[-1].total
    assert_nothing_left(engine)
    assert "influxdb:2.7.12" not in engine.images


def test_a_failed_build_reports_the_builder_error(engine, stack):
    engine.build_error = "The command '/bin/sh -c pip install apache-flink' returned a non-zero code: 1"
    with pytest.raises(BuildFailed, match="building the Flink image failed: The command .*non-zero code: 1"):
        stack.apply()
    assert_nothing_left(engine)


def test_the_build_context_satisfies_every_copy_of_the_dockerfile(engine, stack):
    """The fake builder refuses a COPY whose source is missing, as the classic builder does."""
    stack.apply()
    assert engine.builds and stack.plan.builds[0].tag in engine.images
    names = set(engine.builds[0]["files"])
    assert names == {path for path, _ in stack.plan.builds[0].context}
    import tarfile, io
    with tarfile.open(fileobj=io.BytesIO(build_context(stack.plan.builds[0]))) as archive:
        assert sorted(archive.getnames()) == sorted(names)


def test_an_unhealthy_service_rolls_back_everything_this_start_created(engine, stack):
    engine.health["twtest-influxdb"] = ["starting", "unhealthy"]
    with pytest.raises(ServiceUnhealthy, match=r"influxdb is unhealthy \(its health check said: connection refused\)"):
        stack.apply()
    assert_nothing_left(engine)


def test_a_service_that_exits_while_starting_shows_its_exit_code_and_log(engine, stack):
    engine.health["twtest-grafana"] = ["exit:3"]
    with pytest.raises(ServiceUnhealthy, match="grafana stopped with exit code 3") as caught:
        stack.apply()
    assert "fatal error, exiting with 3" in str(caught.value)
    assert_nothing_left(engine)


def test_a_service_that_never_becomes_healthy_times_out(engine):
    stack = DockerStack(plan(make_spec()), lambda: CREDENTIALS, base_url=engine.url, poll_s=0.01,
                        health_timeout_s=0.3)
    engine.health["twtest-kafka"] = ["starting"]
    with pytest.raises(ServiceUnhealthy, match=r"kafka was not healthy after 0 s"):
        stack.apply()
    assert_nothing_left(engine)


def test_a_failed_post_start_step_is_reported_with_its_output(engine, stack):
    engine.exec_results["kafka-topics.sh"] = (1, "Error while executing topic command: Timed out")
    with pytest.raises(ServiceUnhealthy, match="kafka: create the pipeline's topics failed \\(exit 1\\):\n"
                                               "Error while executing topic command"):
        stack.apply()
    assert_nothing_left(engine)


def test_a_start_cancelled_half_way_removes_what_it_created_and_keeps_older_data(engine, stack):
    stack.apply()
    stack.teardown(delete_data=False)
    kept = set(engine.volumes)
    cancel = threading.Event()

    def cancel_at_influxdb(event):
        if event.phase == "start" and event.subject == "influxdb":
            cancel.set()

    with pytest.raises(StartCancelled, match="cancelled"):
        stack.apply(Recorder(cancel_at_influxdb), cancel)
    assert_nothing_left(engine, volumes_before=kept)


def test_a_cancel_during_a_pull_stops_it(engine, stack):
    engine.pull_delay_s = 0.02
    cancel = threading.Event()
    progress = Recorder(lambda e: cancel.set() if e.phase == "pull" and e.current else None)
    started = time.monotonic()
    with pytest.raises(StartCancelled):
        stack.apply(progress, cancel)
    assert time.monotonic() - started < 5
    assert not engine.images
    assert_nothing_left(engine)


def test_missing_credentials_fail_before_anything_is_created(engine):
    from backend.secrets import NoKeyringError

    def no_keyring():
        raise NoKeyringError("No OS keyring is available on this system")

    stack = DockerStack(plan(make_spec()), no_keyring, base_url=engine.url)
    with pytest.raises(StackError, match="credentials cannot be kept: No OS keyring is available"):
        stack.apply()
    assert_nothing_left(engine)


# --- a real engine ----------------------------------------------------------------------------------------------


def _real_engine_problem() -> str:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return ""
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable engine here"
        return f"no Docker engine answers here ({type(exc).__name__}); this test needs one"


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_the_whole_stack_on_a_real_engine(tmp_path, memory_keyring):
    problem = _real_engine_problem()
    if problem:
        pytest.skip(problem)
    from stack.backends import DockerBackend

    spec = make_spec("tickerwire-e2e")
    backend = DockerBackend(spec, health_timeout_s=600)
    events = Recorder()
    try:
        backend.start(events, threading.Event())
        assert {s.health for s in backend.status()} == {"healthy"}
        urls = backend.endpoints()
        with urllib.request.urlopen(f"{urls.grafana_url}/api/dashboards/uid/tickerwire", timeout=10) as response:
            assert json.load(response)["dashboard"]["title"] == "TickerWire"  # anonymous viewer access
        with urllib.request.urlopen(f"{urls.influx_url}/ping", timeout=10) as response:
            assert response.status == 204
        with urllib.request.urlopen(f"{urls.flink_ui}/jobs/overview", timeout=10) as response:
            assert any(j["name"] == "tickerwire-candles" and j["state"] == "RUNNING" for j in json.load(response)["jobs"])
    finally:
        backend.stop(delete_data=True)
