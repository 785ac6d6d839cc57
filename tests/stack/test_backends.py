"""The StackBackend interface: both backends satisfy it; the local one on the real Kafka, influxd and Flink jobs."""

from __future__ import annotations

import threading

import pytest

from backend.bus.topics import default_topics
from stack.docker_backend import DockerBackend
from stack.local.backend import LocalBackend
from stack.types import StackBackend, StackError, StartCancelled


def test_both_backends_have_the_panels_interface(tmp_path):
    docker = DockerBackend(home=tmp_path)
    local = LocalBackend(tmp_path)
    assert isinstance(docker, StackBackend) and isinstance(local, StackBackend)
    assert docker.services[0] == "catalog" and docker.services[-1] == "grafana"
    assert local.services == ("kafka", "influxdb", "flink-job", "flink-impacts")
    assert local.endpoints().kafka_bootstrap == ""  # nothing runs yet
    assert "not part of the local-process stack" in local.endpoints().grafana_note


def test_an_unprepared_local_stack_names_every_missing_part_at_once_and_starts_nothing(tmp_path):
    backend = LocalBackend(tmp_path / "data", cache=tmp_path / "empty-cache", note="Docker not found: …")
    assert backend.note.startswith("Docker not found: …\nThe local processes are not prepared (kafka, flink, "
                                   "influxdb missing): run `python -m stack.local prepare kafka flink influxdb` once.")
    events = []
    with pytest.raises(StackError, match=r"run `python -m stack\.local prepare kafka flink influxdb` once"):
        backend.start(events.append, threading.Event())
    assert [e.phase for e in events] == ["rollback"]
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
