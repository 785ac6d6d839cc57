"""Data through the Docker stack, from the command line: what ``collect --pipeline stack`` sends comes out of
``export --pipeline stack`` equal, candle for candle (every timeframe) and article for article, to what the
embedded pipeline stores from the same session — also when Kafka, the TaskManager and InfluxDB are killed
mid-stream, and after ``stack down`` and ``stack up``.

The session's stack (``running_stack``) stands in for the user's: ``--pipeline stack`` resolves to it, and
a :class:`~backend.pipeline.stack_sinks.SinkService` runs beside the test as the stack's sink process does.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
from integration.market_session import generated_frames

from app.cli import main
from backend.model import Timeframe
from helpers import SAMPLE_SESSION

pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]
SETTLE_S = 300
SAMPLE_SYMBOLS = ["AAPL", "AMZN", "BRK.B"]


@pytest.fixture
def stack_cli(running_stack, monkeypatch):
    """``--pipeline stack`` finds the session's stack, and its sinks run (as the stack's own process would)."""
    from app import stack_mode
    from backend.bus.kafka import KafkaPublisher
    from backend.pipeline.stack_sinks import SinkService
    from backend.processing.archive_process import ArchiveProcess
    from backend.processing.archiver import Archiver
    from backend.stores.influx import InfluxSettings, InfluxStore

    connection = stack_mode.connection_from(running_stack.access)
    monkeypatch.setattr(stack_mode, "running_connection", lambda home=None: connection)
    store = InfluxStore(InfluxSettings(url=connection.influx_url, token=connection.influx_token,
                                       bucket=connection.influx_bucket, retention_days=None))
    archiver = Archiver(lambda: ArchiveProcess(properties=connection.archive), connection.archive_where,
                        interval_s=2.0)
    sinks = SinkService(connection.kafka_bootstrap, store, KafkaPublisher(connection.kafka_bootstrap), archiver,
                        retention_days=None)
    sinks.start()
    yield connection
    sinks.stop()
    archiver.close()
    store.close()


def _session(tmp_path: Path, name: str, symbols: list[str], minutes: int, seed: int) -> Path:
    """A recorded session directory: generated frames for ``symbols``, then the recorded sample with its news."""
    session = tmp_path / name
    session.mkdir()
    frames = generated_frames(symbols, minutes=minutes, seed=seed)
    frames += (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines()
    (session / "polygon.jsonl").write_text("\n".join(frames) + "\n")
    (session / "guardian.jsonl").write_text((SAMPLE_SESSION / "guardian.jsonl").read_text())
    return session


def _export(tmp_path: Path, symbols: list[str], *feed: str) -> dict:
    """Every timeframe's candles of ``symbols``, and the news about them, as the command line exports them."""
    out: dict = {}
    for symbol in symbols:
        for tf in Timeframe:
            path = tmp_path / f"export-{symbol}-{tf}.csv"
            assert main(["export", "candles", *feed, "--symbol", symbol, "--timeframe", tf.value, "--format", "csv",
                         "--output", str(path)]) == 0
            out[(symbol, tf.value)] = path.read_text().splitlines()
    news = tmp_path / "export-news.json"
    assert main(["export", "news", *feed, "--format", "json", "--output", str(news)]) == 0
    out["news"] = [(a["id"], a["title"], sorted(a["symbols"])) for a in json.loads(news.read_text())
                   if set(a["symbols"]) & set(symbols)]
    return out


def _differences(expected: dict, found: dict) -> list[str]:
    """What differs between two exports: rows of candles (prices and volumes within 1e-9 relative — Java and
    Python may sum the same doubles in a different order), and the news exactly."""
    problems = [f"{key}: {len(found.get(key, []))} rows, expected {len(rows)}" for key, rows in expected.items()
                if len(found.get(key, [])) != len(rows)]
    for key, rows in expected.items():
        if key == "news":
            problems += [] if found.get(key) == rows else [f"news: {found.get(key)} != {rows}"]
            continue
        for want, got in zip(rows[1:], found.get(key, [])[1:]):
            w, g = want.split(","), got.split(",")
            if w[0] != g[0] or w[-1] != g[-1] or not all(
                    math.isclose(float(a), float(b), rel_tol=1e-9) for a, b in zip(w[1:-1], g[1:-1])):
                problems.append(f"{key}: {got} != {want}")
    return problems


def _wait_until_equal(tmp_path: Path, symbols: list[str], expected: dict) -> list[str]:
    """The differences of the stack's export from ``expected``, once there are none (the jobs and sinks take a
    moment) or the time is up."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        problems = _differences(expected, _export(tmp_path, symbols, "--pipeline", "stack"))
        if not problems or time.monotonic() > deadline:
            return problems[:20]
        time.sleep(3)


def _embedded(tmp_path: Path, session: Path, symbols: list[str]) -> dict:
    assert main(["--replay", str(session), "--speed", "100000", "collect", "--watch", ",".join(symbols),
                 "--exit-after", "15"]) == 0
    return _export(tmp_path, symbols, "--replay", str(session))


def test_a_replayed_session_comes_out_of_the_stack_as_it_comes_out_of_the_embedded_pipeline(
        stack_cli, tmp_path):
    symbols = ["DSA", "DSB"] + SAMPLE_SYMBOLS
    session = _session(tmp_path, "stack-session", symbols[:2], minutes=90, seed=21)
    expected = _embedded(tmp_path, session, symbols)
    assert sum(len(rows) - 1 for key, rows in expected.items() if key != "news") > 250  # 90 minutes × 2 + roll-ups
    assert expected["news"], "the recorded news is routed to AMZN"
    assert main(["collect", "--pipeline", "stack", "--replay", str(session), "--speed", "100000",
                 "--watch", ",".join(symbols), "--exit-after", "20"]) == 0
    assert _wait_until_equal(tmp_path, symbols, expected) == []


def test_killing_kafka_the_taskmanager_and_influxdb_mid_stream_loses_and_duplicates_nothing(
        stack_cli, running_stack, tmp_path):
    """The session streams for a few minutes; meanwhile each service is killed in turn and comes back (the
    supervisor); the export ends equal to the embedded pipeline's — nothing lost, nothing twice."""
    import docker

    symbols = ["FKA", "FKB"]
    session = _session(tmp_path, "fault-session", symbols, minutes=120, seed=22)
    expected = _embedded(tmp_path, session, symbols)
    result: dict = {}
    # 120 session minutes at 120× real time: the stream lasts about a minute, through the three kills.
    collector = threading.Thread(target=lambda: result.setdefault("status", main([
        "collect", "--pipeline", "stack", "--replay", str(session), "--speed", "120", "--watch", ",".join(symbols),
        "--exit-after", "150"])))
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
    assert _wait_until_equal(tmp_path, symbols, expected) == []


def test_down_then_up_keeps_what_the_stack_stored(stack_cli, running_stack, tmp_path):
    from docker_stack import stack_up

    symbols = ["DUA"]
    session = _session(tmp_path, "downup-session", symbols, minutes=30, seed=23)
    expected = _embedded(tmp_path, session, symbols)
    assert main(["collect", "--pipeline", "stack", "--replay", str(session), "--speed", "100000",
                 "--watch", ",".join(symbols), "--exit-after", "15"]) == 0
    assert _wait_until_equal(tmp_path, symbols, expected) == []
    running_stack.backend.stop(delete_data=False)
    status, output, _, _ = stack_up(running_stack.backend)
    assert status == 0, output[-3000:]
    running_stack.wait_healthy(timeout_s=600)
    assert _differences(expected, _export(tmp_path, symbols, "--pipeline", "stack")) == []
