"""The pure stack plan: services, order, ports, environment, secrets, volumes, health checks — no engine."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from backend.bus.topics import default_topics
from stack.local.flink import artefacts
from stack.plan import plan
from stack.plan.images import SERVICE_UIDS
from stack.plan.model import ContainerPlan, SourceTree, start_order
from stack.plan.spec import PlanError, Ports, StackSpec, endpoints
from stack.repo import REPO_ROOT, RepoTree

SERVICES = ("catalog", "s3", "kafka", "influxdb", "flink-jobmanager", "flink-taskmanager", "flink-job",
            "flink-impacts", "grafana")
TREE: SourceTree = RepoTree()


@pytest.fixture(scope="module")
def default_plan():
    return plan(StackSpec(), TREE)


def test_every_service_is_planned_once_in_dependency_order(default_plan):
    assert default_plan.services == SERVICES
    position = {service: i for i, service in enumerate(default_plan.services)}
    expected = {"flink-taskmanager": {"flink-jobmanager"},
                "flink-job": {"kafka", "flink-taskmanager"}, "flink-impacts": {"kafka", "flink-taskmanager"},
                "grafana": {"influxdb"}}
    for container in default_plan.containers:
        assert set(container.depends_on) == expected.get(container.service, set())
        assert all(position[d] < position[container.service] for d in container.depends_on)


def test_every_image_but_grafanas_is_built_by_the_project(default_plan):
    tags = {b.name: b.tag for b in default_plan.builds}
    images = {c.service: (c.image, c.build) for c in default_plan.containers}
    assert images["catalog"] == (tags["postgres"], "postgres") and images["s3"] == (tags["s3proxy"], "s3proxy")
    assert images["kafka"] == (tags["kafka"], "kafka") and images["influxdb"] == (tags["influxdb"], "influxdb")
    for service in ("flink-jobmanager", "flink-taskmanager", "flink-job", "flink-impacts"):
        assert images[service] == (tags["flink"], "flink")
    assert images["grafana"] == ("grafana/grafana:11.6.0", "")
    assert default_plan.container("grafana").optional
    assert not any(c.optional for c in default_plan.containers if c.service != "grafana")
    assert [b.name for b in default_plan.builds_for("flink-job")] == ["base", "java", "flink"]
    assert [b.name for b in default_plan.builds_for("catalog")] == ["base", "postgres"]


def test_ports_are_published_on_loopback_only_at_the_spec_ports():
    ports = Ports(kafka=19092, flink_ui=18081, influxdb=18086, grafana=13000, s3=19000, catalog=15432)
    stack = plan(StackSpec(ports=ports), TREE)
    published = {(service, b.container_port): b for service, b in stack.host_ports()}
    assert {key: b.host_port for key, b in published.items()} == {
        ("kafka", 9092): 19092, ("s3", 9000): 19000, ("catalog", 5432): 15432, ("influxdb", 8086): 18086,
        ("flink-jobmanager", 8081): 18081, ("grafana", 3000): 13000}
    assert {b.host_ip for b in published.values()} == {"127.0.0.1"}
    assert stack.container("kafka").env_dict()["KAFKA_EXTERNAL_PORT"] == "19092"
    urls = endpoints(stack.spec)
    assert urls.kafka_bootstrap == "127.0.0.1:19092" and urls.s3_endpoint == "http://127.0.0.1:19000"
    assert urls.catalog_uri == "postgresql+psycopg2://iceberg@127.0.0.1:15432/iceberg"
    assert urls.warehouse == "s3://warehouse/" and urls.influx_bucket == "tickerwire/autogen"
    assert urls.dashboard_url.startswith("http://127.0.0.1:13000/d/tickerwire/")


@pytest.mark.parametrize("changes, message", [
    ({"ports": Ports(grafana=9092)}, "given to both"),
    ({"ports": Ports(influxdb=80)}, "between 1024 and 65535"),
    ({"name": "Bad Name"}, "stack name"),
    ({"influx_database": "drop table"}, "influx_database"),
    ({"warehouse_bucket": "Not_S3"}, "S3 bucket"),
    ({"parallelism": 4, "taskmanager_slots": 2}, "task slots"),
    ({"parallelism": 2, "taskmanager_slots": 2}, "need 4 task slots; 1 task manager"),
    ({"kafka_brokers": 2}, "kafka_brokers must be 1 or 3"),
    ({"price_partitions": 0}, "price_partitions"),
    ({"taskmanager_memory": "lots"}, "taskmanager_memory"),
    ({"grafana_image": "grafana/grafana:latest"}, "not pinned"),
    ({"grafana_image": "grafana/grafana"}, "pin an exact version"),
    ({"base_image": ""}, "base image"),
    ({"build_args": {"kafak": {"X": "1"}}}, "build_args name unknown images: kafak"),
])
def test_bad_specs_are_refused_with_the_reason(changes, message):
    with pytest.raises(PlanError, match=message):
        plan(StackSpec(**changes), TREE)


def test_names_are_prefixed_by_the_stack_name():
    stack = plan(StackSpec(name="tw-test"), TREE)
    assert stack.network == "tw-test-net"
    assert all(c.name == f"tw-test-{c.service}" for c in stack.containers)
    assert all(v.name.startswith("tw-test-") for v in stack.volumes)
    assert "tw-test-kafka:19092" in stack.container("flink-job").command


def test_credentials_reach_containers_only_as_secret_files_of_the_service_user(default_plan):
    for container in default_plan.containers:
        for key, value in container.env:
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "CREDENTIAL")):
                assert key.endswith("__FILE") and value.startswith("/run/secrets/"), (container.service, key)
        for secret in container.secrets:
            assert secret.mode == 0o400 and secret.uid != 0 and secret.gid != 0
    needs = {c.service: c.secret_keys() for c in default_plan.containers if c.secrets}
    assert needs == {"catalog": {"postgres_password"}, "s3": {"s3_access_key", "s3_secret_key"},
                     "influxdb": {"influx_admin_password", "influx_reader_password"},
                     "grafana": {"grafana_password", "influx_reader_password"}}
    uids = {c.service: {s.uid for s in c.secrets} for c in default_plan.containers if c.secrets}
    assert uids == {"catalog": {SERVICE_UIDS["postgres"]}, "s3": {SERVICE_UIDS["s3proxy"]},
                    "influxdb": {SERVICE_UIDS["influxdb"]}, "grafana": {472}}
    properties = default_plan.container("s3").secrets[0].template
    assert "s3proxy.identity={s3_access_key}" in properties and "s3proxy.authorization=aws-v2-or-v4" in properties


def test_grafana_reads_influxdb_as_the_read_only_user_and_embeds_for_anonymous_viewers(default_plan):
    grafana = default_plan.container("grafana")
    env = grafana.env_dict()
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/tickerwire/grafana_password"
    datasource = next(s for s in grafana.secrets if "datasources" in s.path)
    filled = datasource.template.format(influx_reader_password="pw")
    assert '"token": "reader:pw"' in filled and '"url": "http://tickerwire-influxdb:8086"' in filled
    assert '"defaultBucket": "tickerwire/autogen"' in filled
    assert {f.path for f in grafana.files} == {"/etc/grafana/provisioning/dashboards/tickerwire.yaml",
                                               env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]}
    assert "hostname -i" in grafana.entrypoint[-2]  # listens on its network address only


def test_kafka_runs_kraft_and_creates_the_bus_topics(default_plan):
    kafka = default_plan.container("kafka")
    env = kafka.env_dict()
    assert len(env["KAFKA_CLUSTER_ID"]) == 22 and not env["KAFKA_CLUSTER_ID"].startswith("-")
    assert env["KAFKA_CLUSTER_ID"] == plan(StackSpec(), TREE).container("kafka").env_dict()["KAFKA_CLUSTER_ID"]
    assert env["KAFKA_INTERNAL_HOST"] == "tickerwire-kafka"
    command = kafka.post_start[0].command
    assert command[0] == "/opt/kafka/create-topics"
    assert list(command[1:]) == [f"{t.name}:{t.partitions}:{t.retention_ms}:{t.cleanup_policy}"
                                 for t in default_topics()]


def test_every_container_has_a_health_check_and_a_restart_policy(default_plan):
    for container in default_plan.containers:
        check = container.healthcheck
        assert check is not None, container.service
        assert check.to_docker()["test"][0] == "CMD" and container.restart == "unless-stopped"


def test_data_volumes_are_planned_once_each_and_flink_shares_its_checkpoints(default_plan):
    names = [v.name for v in default_plan.volumes]
    assert len(names) == len(set(names))
    assert {v.service for v in default_plan.volumes} == {"catalog", "s3", "kafka", "influxdb", "flink-jobmanager",
                                                         "grafana"}
    checkpoints = {(m.volume, m.path) for s in SERVICES if s.startswith("flink")
                   for m in default_plan.container(s).volumes}
    assert checkpoints == {("tickerwire-flink-checkpoints", "/opt/tickerwire/checkpoints")}


def test_start_order_reports_cycles_and_unknown_dependencies():
    a = ContainerPlan("a", "a", "x:1.0.0", depends_on=("b",))
    b = ContainerPlan("b", "b", "x:1.0.0", depends_on=("a",))
    with pytest.raises(PlanError, match="cycle: a -> b -> a"):
        start_order([a, b])
    with pytest.raises(PlanError, match="unknown service 'c'"):
        start_order([dataclasses.replace(a, depends_on=("c",))])
    c = ContainerPlan("c", "c", "x:1.0.0")
    assert [x.service for x in start_order([dataclasses.replace(a, depends_on=("c",)), c])] == ["c", "a"]


def test_the_jobs_accept_the_command_lines_their_clients_pass(default_plan):
    """The jobs' own argument parsers, in the Flink venv, read the options after the script."""
    python = artefacts().python
    for service, module in (("flink-job", "candles_job"), ("flink-impacts", "impact_job")):
        command = default_plan.container(service).command
        assert command[:2] == ("job", {"flink-job": "tickerwire-candles", "flink-impacts": "tickerwire-impacts"}[service])
        job_args = list(command[3:])
        check = (f"import sys; sys.path.insert(0, 'resources/flink'); import {module}; "
                 f"a = {module}.parse_args(sys.argv[1:]); print(a.bootstrap_servers, a.checkpoint_dir)")
        result = subprocess.run([str(python), "-c", check, *job_args], capture_output=True, text=True,
                                cwd=REPO_ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "tickerwire-kafka:19092"
        assert result.stdout.split()[1].startswith("/opt/tickerwire/checkpoints/")


def test_plan_is_deterministic_and_printable_without_secrets(default_plan):
    assert plan(StackSpec(), TREE) == default_plan
    text = repr(default_plan)
    assert "{influx_admin_password}" in text and "{postgres_password}" in text


def test_start_waves_start_together_what_depends_only_on_earlier_waves():
    from stack.plan.model import start_waves

    stack = plan(StackSpec(), TREE)
    waves = [[c.service for c in wave] for wave in start_waves(list(stack.containers))]
    assert waves[0] == ["catalog", "s3", "kafka", "influxdb", "flink-jobmanager"]
    done: set[str] = set()
    for wave in start_waves(list(stack.containers)):
        assert all(set(c.depends_on) <= done for c in wave)
        done |= {c.service for c in wave}
    assert done == set(stack.services)


SCALED = StackSpec(name="tws", kafka_brokers=3, taskmanagers=2, parallelism=2, price_partitions=4,
                   ports=Ports(kafka=19092, kafka_2=19094, kafka_3=19095))


def test_the_multi_broker_profile_is_a_three_node_quorum_with_replicated_topics():
    stack = plan(SCALED, TREE)
    brokers = [stack.container(s) for s in ("kafka", "kafka-2", "kafka-3")]
    voters = "1@tws-kafka:9093,2@tws-kafka-2:9093,3@tws-kafka-3:9093"
    for node, broker in enumerate(brokers, 1):
        env = broker.env_dict()
        assert (env["KAFKA_NODE_ID"], env["KAFKA_VOTERS"]) == (str(node), voters)
        assert (env["KAFKA_REPLICATION"], env["KAFKA_MIN_ISR"]) == ("3", "2")
    assert [b.ports[0].host_port for b in brokers] == [19092, 19094, 19095]
    assert [b.depends_on for b in brokers] == [(), ("kafka",), ("kafka-2",)]
    assert [bool(b.post_start) for b in brokers] == [False, False, True]  # topics once all three are up
    assert "stock-prices:4:" in " ".join(brokers[2].post_start[0].command)
    assert endpoints(SCALED).kafka_bootstrap == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19095"
    assert len({v.name for v in stack.volumes if "kafka" in v.name}) == 3
    single = plan(StackSpec(), TREE).container("kafka").env_dict()
    assert (single["KAFKA_REPLICATION"], single["KAFKA_MIN_ISR"]) == ("1", "1")


def test_the_jobs_run_at_the_spec_parallelism_on_every_broker_and_task_manager():
    stack = plan(SCALED, TREE)
    assert {"flink-taskmanager", "flink-taskmanager-2"} <= set(stack.services)
    for service in ("flink-job", "flink-impacts"):
        job = stack.container(service)
        command = " ".join(job.command)
        assert "--parallelism 2" in command
        assert "tws-kafka:19092,tws-kafka-2:19092,tws-kafka-3:19092" in command
        assert set(job.depends_on) == {"kafka-3", "flink-taskmanager", "flink-taskmanager-2"}


def test_a_bare_session_cluster_has_no_job_clients_and_no_archive():
    stack = plan(dataclasses.replace(SCALED, with_jobs=False, with_archive=False), TREE)
    assert not {"flink-job", "flink-impacts", "catalog", "s3"} & set(stack.services)
    urls = endpoints(stack.spec)
    assert urls.catalog_uri == urls.s3_endpoint == ""
