"""The pure stack plan: every service, port binding, env var, volume, health check and the start order."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess

import pytest

from backend.bus.kafka import default_topics
from stack import plan as plan_module
from stack.local.flink import FLINK_VERSION, KAFKA_CONNECTOR, artefacts
from stack.local.kafka import KAFKA_VERSION
from stack.plan import (
    IMAGES, KAFKA_CONNECTOR_SHA256, ContainerPlan, Ports, PlanError, Secret, StackSpec, check_pinned, endpoints,
    plan, start_order,
)

SERVICES = ("kafka", "minio", "iceberg-rest", "influxdb", "flink-jobmanager", "flink-taskmanager", "flink-job",
            "flink-impacts", "grafana")


@pytest.fixture(scope="module")
def default_plan():
    return plan()


def test_every_service_is_planned_once_with_its_pinned_image(default_plan):
    assert sorted(default_plan.services) == sorted(SERVICES)
    images = {c.service: c.image for c in default_plan.containers}
    assert images["kafka"] == f"apache/kafka:{KAFKA_VERSION}"
    assert images["influxdb"].startswith("influxdb:2.7.")
    flink_tag = default_plan.builds[0].tag
    assert {images[s] for s in ("flink-jobmanager", "flink-taskmanager", "flink-job", "flink-impacts")} == {flink_tag}
    assert flink_tag.startswith(f"tickerwire/flink:{FLINK_VERSION}-")
    for ref in default_plan.pulls:
        check_pinned("test", ref)
        assert not ref.endswith(":latest")
    assert set(default_plan.pulls) == set(IMAGES.values())


def test_each_service_starts_after_what_it_depends_on(default_plan):
    position = {service: i for i, service in enumerate(default_plan.services)}
    expected = {"iceberg-rest": {"minio"}, "flink-jobmanager": {"kafka"}, "flink-taskmanager": {"flink-jobmanager"},
                "flink-job": {"kafka", "flink-taskmanager"}, "flink-impacts": {"kafka", "flink-taskmanager"},
                "grafana": {"influxdb"}}
    for container in default_plan.containers:
        assert set(container.depends_on) == expected.get(container.service, set())
        for dependency in container.depends_on:
            assert position[dependency] < position[container.service]


def test_ports_are_published_on_loopback_only_at_the_spec_ports():
    ports = Ports(kafka=19092, flink_ui=18081, influxdb=18086, grafana=13000, minio=19000, minio_console=19001,
                  iceberg_rest=18181)
    stack = plan(StackSpec(ports=ports))
    published = {(service, b.container_port): b for service, b in stack.host_ports()}
    assert {key: b.host_port for key, b in published.items()} == {
        ("kafka", 9092): 19092, ("minio", 9000): 19000, ("minio", 9001): 19001, ("iceberg-rest", 8181): 18181,
        ("influxdb", 8086): 18086, ("flink-jobmanager", 8081): 18081, ("grafana", 3000): 13000}
    assert {b.host_ip for b in published.values()} == {"127.0.0.1"}
    kafka_env = stack.container("kafka").env_dict()
    assert "EXTERNAL://127.0.0.1:19092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert endpoints(stack.spec).kafka_bootstrap == "127.0.0.1:19092"
    assert endpoints(stack.spec).dashboard_url.startswith("http://127.0.0.1:13000/d/tickerwire/")


@pytest.mark.parametrize("ports, message", [
    (Ports(grafana=9092), "given to both"),
    (Ports(influxdb=80), "between 1024 and 65535"),
    (Ports(minio=70000), "between 1024 and 65535"),
])
def test_bad_ports_are_refused_with_the_reason(ports, message):
    with pytest.raises(PlanError, match=message):
        plan(StackSpec(ports=ports))


@pytest.mark.parametrize("ref", ["grafana/grafana", "grafana/grafana:latest", "influxdb:2.7", "influxdb:2",
                                 "localhost:5000/influxdb"])
def test_floating_or_missing_image_tags_are_refused(ref):
    with pytest.raises(PlanError, match="pin an exact version|not pinned"):
        plan(StackSpec(images={**IMAGES, "influxdb": ref}))


@pytest.mark.parametrize("changes, message", [
    ({"name": "Bad Name"}, "stack name"),
    ({"influx_bucket": "pipeline"}, "must differ"),
    ({"warehouse_bucket": "Not_S3"}, "S3 bucket"),
    ({"parallelism": 4, "taskmanager_slots": 2}, "task slots"),
    ({"retention_days": -1}, "retention_days"),
    ({"images": {k: v for k, v in IMAGES.items() if k != "grafana"}}, "no image given for: grafana"),
])
def test_bad_specs_are_refused_with_the_reason(changes, message):
    with pytest.raises(PlanError, match=message):
        plan(StackSpec(**changes))


def test_names_are_prefixed_by_the_stack_name():
    stack = plan(StackSpec(name="tw-test"))
    assert stack.network == "tw-test-net"
    assert all(c.name == f"tw-test-{c.service}" for c in stack.containers)
    assert all(v.name.startswith("tw-test-") for v in stack.volumes)
    assert "tw-test-kafka:19092" in stack.container("flink-job").command


def test_credentials_are_references_never_values(default_plan):
    secret_like = ("PASSWORD", "TOKEN", "SECRET", "ACCESS_KEY")
    for container in default_plan.containers:
        for key, value in container.env:
            if any(word in key for word in secret_like):
                assert isinstance(value, Secret), f"{container.service}.{key} must come from the keyring"
    needs = {c.service: c.secrets() for c in default_plan.containers if c.secrets()}
    assert needs == {"minio": {"s3_access_key", "s3_secret_key"}, "iceberg-rest": {"s3_access_key", "s3_secret_key"},
                     "influxdb": {"influx_password", "influx_token"}, "grafana": {"grafana_password", "influx_token"}}
    datasource = next(f for f in default_plan.container("grafana").files if "datasources" in f.path)
    assert '"token": "$INFLUX_TOKEN"' in datasource.content  # Grafana expands it from the container's env


def test_influxdb_is_initialised_with_org_bucket_retention_and_the_metrics_task():
    stack = plan(StackSpec(influx_org="acme", influx_bucket="ticks", metrics_bucket="health", retention_days=3))
    influx = stack.container("influxdb")
    env = influx.env_dict()
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert (env["DOCKER_INFLUXDB_INIT_ORG"], env["DOCKER_INFLUXDB_INIT_BUCKET"]) == ("acme", "ticks")
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"] == "3d"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == Secret("influx_token")
    files = {f.path: f for f in influx.files}
    init = files["/docker-entrypoint-initdb.d/tickerwire-pipeline-metrics.sh"]
    assert init.mode == 0o755 and "TICKERWIRE_METRICS_BUCKET" in init.content
    assert env["TICKERWIRE_METRICS_BUCKET"] == "health"
    tasks = [f.content for path, f in files.items() if path.endswith(".flux")]
    assert len(tasks) == 3 and all('to(bucket: "health")' in t for t in tasks)
    scraped = sorted(t.split('url: "')[1].split('"')[0] for t in tasks)
    assert scraped == ["http://localhost:8086/metrics", "http://tickerwire-flink-jobmanager:9249/metrics",
                       "http://tickerwire-flink-taskmanager:9249/metrics"]
    assert {m.path for m in influx.volumes} == {"/var/lib/influxdb2", "/etc/influxdb2"}


def test_kafka_runs_kraft_and_creates_the_bus_topics(default_plan):
    kafka = default_plan.container("kafka")
    env = kafka.env_dict()
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@tickerwire-kafka:9093"
    assert len(env["CLUSTER_ID"]) == 22 and env["CLUSTER_ID"] == plan().container("kafka").env_dict()["CLUSTER_ID"]
    assert env["KAFKA_LOG_DIRS"] == kafka.volumes[0].path
    script = kafka.post_start[0].command[-1]
    for topic in default_topics():
        assert f"--topic {topic.name} --partitions {topic.partitions} " in script


def test_grafana_embeds_with_anonymous_read_only_access_and_is_provisioned(default_plan):
    grafana = default_plan.container("grafana")
    env = grafana.env_dict()
    assert env["GF_SECURITY_ALLOW_EMBEDDING"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    paths = {f.path for f in grafana.files}
    assert {"/etc/grafana/provisioning/datasources/tickerwire.yaml",
            "/etc/grafana/provisioning/dashboards/tickerwire.yaml",
            env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]} <= paths


def test_minio_and_the_iceberg_catalog_share_the_warehouse(default_plan):
    minio, rest = default_plan.container("minio"), default_plan.container("iceberg-rest")
    assert "mc mb --ignore-existing local/warehouse" in minio.post_start[0].command[-1]
    assert "$MINIO_ROOT_PASSWORD" in minio.post_start[0].command[-1]  # expanded in the container, not here
    env = rest.env_dict()
    assert env["CATALOG_WAREHOUSE"] == "s3://warehouse/"
    assert env["CATALOG_S3_ENDPOINT"] == "http://tickerwire-minio:9000"


def test_every_container_has_a_health_check_in_nanoseconds(default_plan):
    for container in default_plan.containers:
        check = container.healthcheck
        assert check is not None, container.service
        docker = check.to_docker()
        assert docker["test"][0] == "CMD" and docker["test"][1:] == list(check.test)
        assert docker["interval"] == int(check.interval_s * 1e9) and docker["retries"] >= 1


def test_data_volumes_are_planned_once_each(default_plan):
    names = [v.name for v in default_plan.volumes]
    assert len(names) == len(set(names))
    assert {v.service for v in default_plan.volumes} >= {"kafka", "minio", "influxdb", "grafana", "iceberg-rest"}
    checkpoint = {m.volume for s in ("flink-jobmanager", "flink-taskmanager", "flink-job")
                  for m in default_plan.container(s).volumes}
    assert checkpoint == {"tickerwire-flink-checkpoints"}


def test_start_order_reports_cycles_and_unknown_dependencies():
    a = ContainerPlan("a", "a", "x:1.0.0", depends_on=("b",))
    b = ContainerPlan("b", "b", "x:1.0.0", depends_on=("a",))
    with pytest.raises(PlanError, match="cycle: a -> b -> a"):
        start_order([a, b])
    with pytest.raises(PlanError, match="unknown service 'c'"):
        start_order([dataclasses.replace(a, depends_on=("c",))])
    c = ContainerPlan("c", "c", "x:1.0.0")
    assert [x.service for x in start_order([dataclasses.replace(a, depends_on=("c",)), c])] == ["c", "a"]


def test_flink_build_context_holds_the_job_and_a_verified_connector(default_plan):
    build = default_plan.builds[0]
    context = dict(build.context)
    assert context["Dockerfile"] == "resources/docker/flink/Dockerfile"
    for script in ("candles_job.py", "impact_job.py", "job_options.py"):
        assert context[f"job/resources/flink/{script}"] == f"resources/flink/{script}"
    assert context["job/backend/signals/impact.py"] == "backend/signals/impact.py"
    assert any(path.startswith("job/udf/") and path.endswith(".java") for path in context)
    args = dict(build.buildargs)
    assert args["PYFLINK_VERSION"] == FLINK_VERSION and args["FLINK_IMAGE"] == IMAGES["flink"]
    group, artifact, version = KAFKA_CONNECTOR.split(":")
    assert args["CONNECTOR_URL"].endswith(f"/{artifact}/{version}/{artifact}-{version}.jar")
    dockerfile = (plan_module.REPO_ROOT / context["Dockerfile"]).read_text()
    assert "sha256sum -c" in dockerfile and "CONNECTOR_SHA256" in dockerfile


def test_pinned_connector_checksum_matches_the_jar_maven_resolved():
    """The prepare step (run by CI) resolves the same connector through Maven, which checks Central's checksums."""
    jars = [jar for jar in artefacts().jars if "flink-sql-connector-kafka" in jar.name]
    assert len(jars) == 1
    assert hashlib.sha256(jars[0].read_bytes()).hexdigest() == KAFKA_CONNECTOR_SHA256


def test_flink_image_tag_follows_the_job_sources(tmp_path, monkeypatch):
    copy = tmp_path / "repo"
    for part in ("resources/docker", "resources/flink"):
        shutil.copytree(plan_module.REPO_ROOT / part, copy / part)
    monkeypatch.setattr(plan_module, "REPO_ROOT", copy)
    monkeypatch.setattr(plan_module, "RESOURCES", copy / "resources")
    before = plan_module.flink_build(StackSpec()).tag
    assert plan_module.flink_build(StackSpec()).tag == before
    job = copy / "resources/flink/candles_job.py"
    job.write_text(job.read_text() + "\n# changed\n")
    assert plan_module.flink_build(StackSpec()).tag != before


def test_the_job_accepts_the_command_line_the_container_passes(default_plan):
    """The job's own argument parser, in the Flink venv, reads the options after the script."""
    command = default_plan.container("flink-job").command
    job_args = list(command[command.index("--python") + 2:])
    assert job_args[0] not in ("-p", "--parallelism"), "the Flink CLI must stop parsing at the job's first option"
    python = artefacts().python
    check = ("import sys; sys.path.insert(0, 'resources/flink'); import candles_job; "
             "a = candles_job.parse_args(sys.argv[1:]); print(a.bootstrap_servers, a.parallelism)")
    result = subprocess.run([str(python), "-c", check, *job_args], capture_output=True, text=True,
                            cwd=plan_module.REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tickerwire-kafka:19092", "1"]


def test_plan_is_deterministic_and_printable_without_secrets(default_plan):
    assert plan() == default_plan
    text = repr(default_plan)
    assert "Secret(key='influx_token')" in text
