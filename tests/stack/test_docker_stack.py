"""The whole stack on a real Docker engine: up from nothing, status, data kept over down/up, recovery, security.

One stack (``running_stack``, tests/docker_stack.py) serves the session; the tests run in file order
on it. Grafana's image cannot be had here (no registry), so it is skipped with the reason.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from stack.cli import run as run_cli
from stack.plan.spec import LABEL

pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]

SERVICES = ("catalog", "s3", "kafka", "influxdb", "flink-jobmanager", "flink-taskmanager", "flink-job",
            "flink-impacts")


def containers(stack):
    """The stack's containers by service."""
    from stack.engine import connect

    client = connect(stack.backend.base_url)
    try:
        return {c.labels["io.tickerwire.service"]: c
                for c in client.containers.list(all=True, filters={"label": f"{LABEL}={stack.backend.spec.name}"})}
    finally:
        client.close()


# --- up, status ---------------------------------------------------------------------------------------------------


def test_stack_up_from_nothing_brings_every_service_up_healthy(running_stack):
    statuses = {s.service: s for s in running_stack.backend.status()}
    assert tuple(statuses) == (*SERVICES, "grafana")
    for service in SERVICES:
        assert (statuses[service].state, statuses[service].health) == ("running", "healthy"), statuses[service]
    grafana = statuses["grafana"]
    assert grafana.state == "skipped" and "grafana/grafana:11.6.0 is not on this engine" in grafana.detail
    output = running_stack.output
    assert "grafana skipped: its image grafana/grafana:11.6.0 is not on this engine and could not be pulled" in output
    assert "all services are healthy (grafana skipped)" in output
    for service in SERVICES:
        assert f"{service} " in output.split("the stack is up after")[1]  # the final table
    # Progress flows throughout: no silence longer than a build step or a health wait.
    gaps = [b - a for a, b in zip(running_stack.progress_times, running_stack.progress_times[1:])]
    assert max(gaps) < 300, max(gaps)


def test_status_json_reports_services_supervisor_and_endpoints(running_stack):
    out = io.StringIO()
    assert run_cli(argparse.Namespace(stack_command="status", json=True), out=out, backend=running_stack.backend) == 0
    document = json.loads(out.getvalue())
    assert document["stack"] == "twtest" and document["supervised"] is True
    assert [(s["service"], s["state"], s["health"]) for s in document["services"]] == [
        *((s, "running", "healthy") for s in SERVICES), ("grafana", "skipped", "")]
    endpoints = document["endpoints"]
    ports = running_stack.backend.spec.ports
    assert endpoints["kafka_bootstrap"] == f"127.0.0.1:{ports.kafka}"
    assert endpoints["catalog_uri"] == f"postgresql+psycopg2://iceberg@127.0.0.1:{ports.catalog}/iceberg"
    assert endpoints["dashboard_url"] == "" and "Grafana is not part of this stack" in endpoints["grafana_note"]
    assert not any(v in out.getvalue() for v in running_stack.credentials.as_dict().values())


def test_flink_runs_both_jobs_and_its_web_ui_refuses_jar_uploads(running_stack):
    overview = _get_json(f"{running_stack.endpoints.flink_ui}/jobs/overview")
    running = {j["name"] for j in overview["jobs"] if j["state"] == "RUNNING"}
    assert running == {"tickerwire-candles", "tickerwire-impacts"}
    config = _get_json(f"{running_stack.endpoints.flink_ui}/config")
    assert config["features"]["web-submit"] is False and config["features"]["web-cancel"] is False
    request = urllib.request.Request(f"{running_stack.endpoints.flink_ui}/jars/upload", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code in (404, 405)


# --- locked down ------------------------------------------------------------------------------------------------


def test_every_listener_is_on_loopback_or_the_stacks_network_and_ports_are_published_on_127_0_0_1(running_stack):
    from listeners import is_loopback, listening_addresses

    checked = 0
    for service, container in containers(running_stack).items():
        network_ip = container.attrs["NetworkSettings"]["Networks"][running_stack.backend.plan.network]["IPAddress"]
        code, output = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        assert code == 0, output
        addresses = listening_addresses(output.decode())
        assert addresses, f"{service} listens nowhere?"
        off = [f"{ip}:{port}" for ip, port in addresses if not is_loopback(ip) and ip != network_ip]
        assert not off, f"{service} listens off loopback and off its network address {network_ip}: {off}"
        checked += len(addresses)
        for key, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings or []), (service, key, bindings)
    assert checked >= 20


def test_no_credential_is_visible_in_docker_inspect_and_secret_files_are_0400_of_the_service_user(running_stack):
    values = [v for v in running_stack.credentials.as_dict().values()]
    found = containers(running_stack)
    plan = running_stack.backend.plan
    with_secrets = 0
    for service, container in found.items():
        inspected = json.dumps(container.attrs)
        assert not [v for v in values if v in inspected], f"a credential is visible in docker inspect of {service}"
        assert container.attrs["Config"]["User"] not in ("", "root", "0"), f"{service} runs as root"
        code, uid = container.exec_run(["sh", "-c", "awk '/^Uid:/{print $2}' /proc/1/status"])
        assert code == 0 and uid.decode().strip() != "0", f"{service}'s process runs as root"
        for secret in plan.container(service).secrets:
            code, out = container.exec_run(["stat", "-c", "%a %u %g", secret.path])
            assert out.decode().split() == ["400", uid.decode().strip(), str(secret.gid)], (service, secret.path, out)
            code, content = container.exec_run(["cat", secret.path])
            assert code == 0 and content.decode() == secret.template.format(**running_stack.credentials.as_dict())
            with_secrets += 1
    assert with_secrets == 4  # catalog, s3 and influxdb's two


# --- data survives down/up --------------------------------------------------------------------------------------


def test_down_then_up_keeps_kafka_messages_influx_points_and_iceberg_rows(running_stack):
    access = running_stack.access
    topic = f"persist-{uuid.uuid4().hex[:8]}"
    messages = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    _produce(access.endpoints.kafka_bootstrap, topic, messages)
    point_time = int(time.time()) * 1_000_000_000
    _influx_write(access, f"persist,tag=t value=42.5 {point_time}")
    table = _iceberg_table(access, f"persist_{uuid.uuid4().hex[:8]}")
    _iceberg_append(table, [1, 2, 3])

    _, checkpoint = _wait_checkpoint(running_stack, "tickerwire-candles")
    running_stack.backend.stop(delete_data=False)
    assert not containers(running_stack)
    assert all(s.state in ("absent", "skipped") for s in running_stack.backend.status())
    running_stack.backend.start(lambda event: None, __import__("threading").Event())
    running_stack.wait_healthy()

    assert _consume_all(access.endpoints.kafka_bootstrap, topic, len(messages)) == messages
    rows = _influx_query(access, 'SELECT "value" FROM "persist"')
    assert rows == [[time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(point_time // 10**9)), 42.5]]
    reopened = _iceberg_table(access, table.name()[-1])
    assert sorted(reopened.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    # The resubmitted candle job started from the newest checkpoint the volume kept.
    restored = _get_json(f"{access.endpoints.flink_ui}/jobs/{_job_id(running_stack, 'tickerwire-candles')}"
                         "/checkpoints")["latest"]["restored"]
    assert restored is not None and int(restored["external_path"].rsplit("chk-", 1)[1]) >= checkpoint, restored


def test_influxdb_requires_credentials_and_the_reader_cannot_write(running_stack):
    access = running_stack.access
    url = access.endpoints.influx_url
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{url}/query?q=SHOW+DATABASES", timeout=10)
    assert anonymous.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as reader_write:
        _influx_request(access.influx_reader_token, f"{url}/write?db=tickerwire", b"denied value=1")
    assert reader_write.value.code == 403
    _influx_write(access, "readable value=7")
    assert _influx_query(access, 'SELECT "value" FROM "readable"', token=access.influx_reader_token)[0][1] == 7


# --- recovery -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["kafka", "flink-taskmanager", "influxdb"])
def test_a_killed_container_comes_back_healthy_by_itself(running_stack, service):
    before = containers(running_stack)[service]
    if service == "flink-taskmanager":
        checkpointed = {name: _wait_checkpoint(running_stack, name) for name in ("tickerwire-candles",
                                                                                  "tickerwire-impacts")}
    started = before.attrs["State"]["StartedAt"]
    killed_ms = time.time() * 1000
    before.kill()
    statuses = running_stack.wait_healthy(timeout_s=600)
    after = containers(running_stack)[service]
    assert after.id == before.id and after.attrs["State"]["StartedAt"] != started  # the same container, again
    assert statuses[service].health == "healthy"
    if service == "kafka":
        topic = f"after-kill-{uuid.uuid4().hex[:8]}"
        _produce(running_stack.endpoints.kafka_bootstrap, topic, {b"k": b"v"})
        assert _consume_all(running_stack.endpoints.kafka_bootstrap, topic, 1) == {b"k": b"v"}
    if service == "influxdb":
        _influx_write(running_stack.access, "after_kill value=1")
        assert _influx_query(running_stack.access, 'SELECT "value" FROM "after_kill"')
    if service == "flink-taskmanager":
        for name, (job_id, checkpoint) in checkpointed.items():
            restored = _wait_restored(running_stack, job_id, after_ms=killed_ms)
            assert restored["id"] >= checkpoint and not restored["is_savepoint"], (name, restored)


# --- a failed start rolls back --------------------------------------------------------------------------------


def test_a_start_whose_image_build_fails_rolls_back_exactly_what_it_created(running_stack, tmp_path):
    from docker_stack import make_backend
    from stack.engine import connect
    from stack.types import BuildFailed

    backend = make_backend("twfail", tmp_path, build_args={"flink": {"JAVA_RELEASE": "nonsense"}})
    client = connect(backend.base_url)
    try:
        images_before = {image.id for image in client.images.list()}
        events = []
        with pytest.raises(BuildFailed) as failed:
            backend.start(events.append, __import__("threading").Event())
        message = str(failed.value)
        assert message.startswith(f"building the flink image ({backend.plan.build('flink').tag}) failed at step")
        assert "javac" in message and "nonsense" in message
        rolled_back = [e.subject for e in events if e.phase == "rollback"]
        assert rolled_back == ["twfail-influxdb", "twfail-kafka", "twfail-s3", "twfail-catalog", "network",
                               *(v.name for v in backend.plan.volumes)]
        leftovers = [kind for kind, found in (
            ("containers", client.containers.list(all=True, filters={"label": f"{LABEL}=twfail"})),
            ("networks", client.networks.list(filters={"label": f"{LABEL}=twfail"})),
            ("volumes", client.volumes.list(filters={"label": f"{LABEL}=twfail"}))) if found]
        assert leftovers == []
        assert images_before <= {image.id for image in client.images.list()}  # built images stay as the cache
        assert {s.state for s in running_stack.backend.status()} == {"running", "skipped"}  # the other stack ran on
    finally:
        backend.stop(delete_data=True)
        client.close()


# --- helpers --------------------------------------------------------------------------------------------------


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _produce(bootstrap: str, topic: str, messages: dict[bytes, bytes]) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists (its futures need it)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in messages.items():
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def _consume_all(bootstrap: str, topic: str, count: int) -> dict[bytes, bytes]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and not message.error():
                found[message.key()] = message.value()
    finally:
        consumer.close()
    return found


def _influx_request(token: str, url: str, data: bytes | None = None) -> bytes:
    auth = base64.b64encode(token.encode()).decode()
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def _influx_write(access, line: str) -> None:
    _influx_request(access.influx_token, f"{access.endpoints.influx_url}/write?db=tickerwire", line.encode())


def _influx_query(access, query: str, token: str = "") -> list:
    url = f"{access.endpoints.influx_url}/query?db=tickerwire&q={urllib.parse.quote(query)}"
    result = json.loads(_influx_request(token or access.influx_token, url))["results"][0]
    return result["series"][0]["values"] if "series" in result else []


def _iceberg_table(access, name: str):
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog

    catalog = load_catalog("tickerwire", **access.catalog_properties())
    catalog.create_namespace_if_not_exists("tests")
    return catalog.create_table_if_not_exists(f"tests.{name}", schema=pa.schema([("id", pa.int64())]))


def _iceberg_append(table, ids: list[int]) -> None:
    import pyarrow as pa

    table.append(pa.table({"id": pa.array(ids, pa.int64())}))
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == sorted(ids)


def _job_id(stack, name: str) -> str:
    for job in _get_json(f"{stack.endpoints.flink_ui}/jobs/overview")["jobs"]:
        if job["name"] == name and job["state"] == "RUNNING":
            return job["jid"]
    raise AssertionError(f"{name} is not running")


def _wait_checkpoint(stack, name: str, timeout_s: float = 120) -> tuple[str, int]:
    """(job id, id of its newest completed checkpoint) once it has one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job_id = _job_id(stack, name)
        latest = _get_json(f"{stack.endpoints.flink_ui}/jobs/{job_id}/checkpoints")["latest"]["completed"]
        if latest:
            return job_id, latest["id"]
        time.sleep(2)
    raise AssertionError(f"{name} completed no checkpoint in {timeout_s} s")


def _wait_restored(stack, job_id: str, after_ms: float, timeout_s: float = 300) -> dict:
    """The checkpoint a job restored from after a failure at ``after_ms`` (once it is RUNNING again)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _get_json(f"{stack.endpoints.flink_ui}/jobs/{job_id}")
        restored = _get_json(f"{stack.endpoints.flink_ui}/jobs/{job_id}/checkpoints")["latest"].get("restored")
        if job["state"] == "RUNNING" and restored and restored["restore_timestamp"] > after_ms:
            return restored
        time.sleep(2)
    raise AssertionError(f"job {job_id} did not restore from a checkpoint in {timeout_s} s")
