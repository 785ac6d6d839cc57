"""The scaled-out stack on the real engine: three Kafka brokers (replication factor 3, ``min.insync.replicas``
2), two Flink TaskManagers, both jobs at parallelism 2 over a four-partition ``stock-prices``.

The stack starts as a bare session cluster (``with_jobs`` off) and ``tickerwire stack deploy-jobs``
submits the jobs to it, as to a cluster the app did not start. A session then comes out of the stack
equal to the embedded pipeline's (the oracle), also when a broker and a TaskManager are killed
mid-stream (the job recovers from its checkpoint). One stack for the module: it takes minutes to start.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
import urllib.request

import pytest
from docker_stack import make_backend, stack_running
from stack_session import SAMPLE_SYMBOLS, collect, embedded_export, session_dir, stack_export, stack_sinks

pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]
STACK = "twscale"
SCALE = {"kafka_brokers": 3, "taskmanagers": 2, "parallelism": 2, "price_partitions": 4}


@pytest.fixture(scope="module")
def scaled_stack(docker_engine, tmp_path_factory):
    backend = make_backend(STACK, tmp_path_factory.mktemp("scale-home"), with_archive=False, with_jobs=False,
                           **SCALE)
    with stack_running(backend) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(scaled_stack):
    """Both jobs submitted by ``tickerwire stack deploy-jobs --flink URL`` (the command's output)."""
    from stack.cli import run
    from stack.plan.kafka import internal_bootstrap
    from stack.plan.model import Names

    backend = scaled_stack.backend
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(stack_command="deploy-jobs", flink=scaled_stack.endpoints.flink_ui,
                              bootstrap_servers=internal_bootstrap(backend.spec, Names(STACK)), parallelism=2,
                              checkpoints=None, base_image=None, build_ca=None)
    status = run(args, out=out, err=err, backend=backend)
    assert status == 0, out.getvalue()[-3000:] + err.getvalue()[-3000:]
    return out.getvalue()


def _rest(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_every_topic_has_three_replicas_and_prices_four_partitions(scaled_stack):
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": scaled_stack.endpoints.kafka_bootstrap})
    topics = admin.list_topics(timeout=20).topics
    assert len(admin.list_topics(timeout=20).brokers) == 3
    assert len(topics["stock-prices"].partitions) == 4
    for name in ("stock-prices", "news-articles", "candles", "articles", "impacts", "dead-letters"):
        assert all(len(p.replicas) == 3 for p in topics[name].partitions.values()), name
    config = admin.describe_configs([ConfigResource("topic", "stock-prices")])
    [future] = config.values()
    assert future.result(timeout=20)["min.insync.replicas"].value == "2"


def test_deploy_jobs_runs_both_jobs_at_parallelism_2_on_a_cluster_the_app_did_not_start(scaled_stack, deployed):
    flink = scaled_stack.endpoints.flink_ui
    jobs = {job["name"]: job for job in _rest(f"{flink}/jobs/overview")["jobs"] if job["state"] == "RUNNING"}
    assert set(jobs) == {"tickerwire-candles", "tickerwire-impacts"}, deployed
    for job in jobs.values():
        vertices = _rest(f"{flink}/jobs/{job['jid']}")["vertices"]
        assert max(v["parallelism"] for v in vertices) == 2
    assert _rest(f"{flink}/overview")["taskmanagers"] == 2


def test_a_session_through_the_scaled_stack_equals_the_embedded_pipeline(scaled_stack, deployed, tmp_path,
                                                                         monkeypatch):
    symbols = ["SCA", "SCB", "SCC", "SCD"] + SAMPLE_SYMBOLS
    session = session_dir(tmp_path, "scale-session", symbols[:4], minutes=60, seed=31)
    expected = embedded_export(tmp_path, session, symbols)
    assert expected["news"], "the recorded news is routed to AMZN"
    with stack_sinks(scaled_stack.access, monkeypatch):
        assert collect(session, symbols, speed=100000, exit_after_s=20) == 0
        assert stack_export(tmp_path, symbols, expected) == []


def _stream_through_a_kill(scaled_stack, tmp_path, monkeypatch, symbols: list[str], service: str | None) -> None:
    """Stream a session for about a minute (120 session minutes at 120× real time) while ``service`` is
    killed 10 s in (the supervisor brings it back); the export must end equal to the embedded pipeline's."""
    import docker

    session = session_dir(tmp_path, "scale-faults", symbols, minutes=120, seed=32)
    expected = embedded_export(tmp_path, session, symbols)
    backend = scaled_stack.backend
    failures: list[BaseException] = []

    def kill() -> None:  # beside the collector, which runs on the main thread (it handles signals)
        client = docker.DockerClient(base_url=backend.base_url) if backend.base_url else docker.from_env()
        try:
            time.sleep(10)
            client.containers.get(backend.plan.container(service).name).kill()
            scaled_stack.wait_healthy(timeout_s=300, services=(service,))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            client.close()

    killer = threading.Thread(target=kill)
    with stack_sinks(scaled_stack.access, monkeypatch):
        if service:
            killer.start()
        assert collect(session, symbols, speed=120, exit_after_s=150) == 0
        if service:
            killer.join(400)
        assert not failures, failures
        assert stack_export(tmp_path, symbols, expected) == []


def test_a_session_streamed_in_real_time_equals_the_embedded_pipeline(scaled_stack, deployed, tmp_path, monkeypatch):
    _stream_through_a_kill(scaled_stack, tmp_path, monkeypatch, ["SNA", "SNB", "SNC"], None)


def test_killing_a_broker_mid_stream_loses_and_duplicates_nothing(scaled_stack, deployed, tmp_path, monkeypatch):
    """Two brokers keep every partition writable (min.insync.replicas 2); acks=all and idempotent producers."""
    _stream_through_a_kill(scaled_stack, tmp_path, monkeypatch, ["SKA", "SKB", "SKC"], "kafka-2")


def test_killing_a_taskmanager_mid_stream_the_jobs_recover_from_their_checkpoints(scaled_stack, deployed, tmp_path,
                                                                                 monkeypatch):
    """Both jobs restart from their newest checkpoint once the supervisor has brought the TaskManager back."""
    _stream_through_a_kill(scaled_stack, tmp_path, monkeypatch, ["STA", "STB", "STC"], "flink-taskmanager-2")
