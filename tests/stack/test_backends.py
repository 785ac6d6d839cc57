"""The StackBackend interface: both backends satisfy it; the local one on the real Kafka, influxd and Flink job."""

from __future__ import annotations

import threading

import pytest

from stack.backends import DockerBackend, LocalBackend, StackBackend, StackError, StartCancelled


def test_both_backends_have_the_panels_interface(tmp_path):
    docker = DockerBackend()
    local = LocalBackend(tmp_path)
    assert isinstance(docker, StackBackend) and isinstance(local, StackBackend)
    assert docker.services[0] == "kafka" and "grafana" in docker.services
    assert local.services == ("kafka", "influxdb", "flink-job", "flink-impacts")
    assert docker.endpoints().kafka_bootstrap == "127.0.0.1:9092"
    assert local.endpoints().kafka_bootstrap == ""  # nothing runs yet


def test_an_unprepared_local_stack_names_the_prepare_command_and_leaves_nothing_running(tmp_path):
    backend = LocalBackend(tmp_path / "data", cache=tmp_path / "empty-cache")
    events = []
    with pytest.raises(StackError, match=r"python -m stack\.local prepare kafka"):
        backend.start(events.append, threading.Event())
    assert [e.phase for e in events] == ["start", "rollback"]
    assert [s.state for s in backend.status()] == ["absent"] * 4
    with pytest.raises(KeyError, match="no service 'grafana'"):
        backend.logs("grafana")


@pytest.mark.integration
def test_a_cancelled_local_start_stops_what_it_started(tmp_path):
    backend = LocalBackend(tmp_path / "data")
    cancel = threading.Event()
    started = []

    def progress(event):
        if event.phase == "ready" and event.subject == "kafka":
            started.append(backend._running["kafka"])
            cancel.set()

    with pytest.raises(StartCancelled):
        backend.start(progress, cancel)
    assert started and not started[0].running
    assert [s.state for s in backend.status()] == ["absent"] * 4


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_local_stack_starts_reports_and_stops(tmp_path):
    from confluent_kafka.admin import AdminClient

    from backend.bus.kafka import default_topics

    backend = LocalBackend(tmp_path / "data")
    events = []
    try:
        backend.start(events.append, threading.Event())
        assert events[-1].message == "all services are running"
        assert [(s.service, s.state, s.health) for s in backend.status()] == [
            ("kafka", "running", "healthy"), ("influxdb", "running", "healthy"), ("flink-job", "running", "healthy"),
            ("flink-impacts", "running", "healthy")]
        urls = backend.endpoints()
        topics = AdminClient({"bootstrap.servers": urls.kafka_bootstrap}).list_topics(timeout=10).topics
        assert {t.name for t in default_topics()} <= set(topics)
        assert urls.influx_url.startswith("http://127.0.0.1:")
        assert "TICKERWIRE JOB RUNNING" in backend.logs("flink-job")
        assert "TICKERWIRE JOB RUNNING" in backend.logs("flink-impacts")
    finally:
        backend.stop(delete_data=True)
    assert [s.state for s in backend.status()] == ["absent"] * 4
    assert not (tmp_path / "data").exists()
