"""Data through the Docker stack, from the command line: what ``collect --pipeline stack`` sends comes out of
``export --pipeline stack`` equal, candle for candle (every timeframe) and article for article, to what the
embedded pipeline stores from the same session — also when Kafka, the TaskManager and InfluxDB are killed
mid-stream, and after ``stack down`` and ``stack up``.

The session's stack (``running_stack``) stands in for the user's: ``--pipeline stack`` resolves to it, and
a :class:`~backend.pipeline.stack_sinks.SinkService` runs beside the test as the stack's sink process does
(:mod:`stack_session`, shared with the scale-out tests).
"""

from __future__ import annotations

import threading
import time

import pytest
from stack_session import (
    SAMPLE_SYMBOLS, collect, differences, embedded_export, export, session_dir, stack_export, stack_sinks,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]


@pytest.fixture
def stack_cli(running_stack, monkeypatch):
    with stack_sinks(running_stack.access, monkeypatch) as connection:
        yield connection


def test_a_replayed_session_comes_out_of_the_stack_as_it_comes_out_of_the_embedded_pipeline(
        stack_cli, tmp_path):
    symbols = ["DSA", "DSB"] + SAMPLE_SYMBOLS
    session = session_dir(tmp_path, "stack-session", symbols[:2], minutes=90, seed=21)
    expected = embedded_export(tmp_path, session, symbols)
    assert sum(len(rows) - 1 for key, rows in expected.items() if key != "news") > 250  # 90 minutes × 2 + roll-ups
    assert expected["news"], "the recorded news is routed to AMZN"
    assert collect(session, symbols, speed=100_000, exit_after_s=20) == 0
    assert stack_export(tmp_path, symbols, expected) == []


def test_killing_kafka_the_taskmanager_and_influxdb_mid_stream_loses_and_duplicates_nothing(
        stack_cli, running_stack, tmp_path):
    """The session streams for a minute or so; meanwhile each service is killed in turn and comes back (the
    supervisor); the export ends equal to the embedded pipeline's — nothing lost, nothing twice."""
    import docker

    symbols = ["FKA", "FKB"]
    session = session_dir(tmp_path, "fault-session", symbols, minutes=120, seed=22)
    expected = embedded_export(tmp_path, session, symbols)
    result: dict = {}
    # 120 session minutes at 120× real time: the stream lasts about a minute, through the three kills.
    collector = threading.Thread(target=lambda: result.setdefault(
        "status", collect(session, symbols, speed=120, exit_after_s=150)))
    collector.start()
    client = docker.DockerClient(base_url=running_stack.backend.base_url) if running_stack.backend.base_url \
        else docker.from_env()
    try:
        for service in ("kafka", "flink-taskmanager", "influxdb"):
            time.sleep(8)
            client.containers.get(running_stack.backend.plan.container(service).name).kill()
            running_stack.wait_healthy(timeout_s=300, services=(service,))
    finally:
        client.close()
        collector.join(400)
    assert result.get("status") == 0
    assert stack_export(tmp_path, symbols, expected) == []


def test_down_then_up_keeps_what_the_stack_stored(stack_cli, running_stack, tmp_path):
    from docker_stack import stack_up

    symbols = ["DUA"]
    session = session_dir(tmp_path, "downup-session", symbols, minutes=30, seed=23)
    expected = embedded_export(tmp_path, session, symbols)
    assert collect(session, symbols, speed=100_000, exit_after_s=15) == 0
    assert stack_export(tmp_path, symbols, expected) == []
    running_stack.backend.stop(delete_data=False)
    status, output, _, _ = stack_up(running_stack.backend)
    assert status == 0, output[-3000:]
    running_stack.wait_healthy(timeout_s=600)
    assert differences(export(tmp_path, symbols, "--pipeline", "stack"), expected) == []
