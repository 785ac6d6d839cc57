"""The collector as a service: ``/healthz`` on 127.0.0.1 says 200 while it collects into a real broker and 503 with
the reason once the broker is killed; SIGTERM then stops it with a clean exit code; and an unreachable stack exits 4
(a supervisor retries), a refused login 2 (it does not: see test_remote_stack.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from backend import remote_stack
from backend.collect import EXIT_UNREACHABLE
from backend.settings import Settings, tickerwire_home
from stack.local import PrepareMissing
from stack.local.kafka import KafkaBroker, free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError):
        return 0, {}


def _wait_for(port: int, status: int, timeout: float) -> dict:
    deadline, seen = time.monotonic() + timeout, (0, {})
    while time.monotonic() < deadline:
        seen = _healthz(port)
        if seen[0] == status:
            return seen[1]
        time.sleep(0.5)
    raise AssertionError(f"/healthz did not answer {status} within {timeout:.0f}s; last: {seen}")


def _profile(bootstrap: str, influx_url: str) -> None:
    remote_stack.save(Settings(tickerwire_home() / "settings.json"),
                      remote_stack.RemoteProfile("server", bootstrap, influx_url=influx_url,
                                                 influx_bucket="tickerwire/autogen"))


def _collector(*args: str) -> subprocess.Popen:
    env = {**os.environ, "TICKERWIRE_HOME": str(tickerwire_home()), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "collect", "--pipeline", "stack",
                             "--stack-profile", "server", "--demo", "--watch", "HLTH", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_healthz_is_200_while_collecting_and_503_once_the_broker_is_killed(tmp_path, influx_server):
    from backend.bus.kafka import default_topics

    try:
        broker = KafkaBroker(tmp_path / "kafka")
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    broker.start()
    port = free_port()
    collector = None
    try:
        broker.create_topics(default_topics(partitions=1))
        _profile(broker.bootstrap_servers, influx_server.url)
        collector = _collector("--health-port", str(port))
        body = _wait_for(port, 200, 60)
        assert body["status"] == "ok" and body["reason"] == ""
        with pytest.raises(urllib.error.HTTPError) as not_found:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert not_found.value.code == 404
        broker.kill()
        body = _wait_for(port, 503, 30)
        assert body["status"] == "unhealthy" and "Kafka does not answer" in body["reason"]
        collector.send_signal(signal.SIGTERM)
        _, err = collector.communicate(timeout=90)
        assert collector.returncode in (0, 1), err[-3000:]  # 1: messages it held could not be delivered
        assert "stopping: signal received" in err
    finally:
        if collector is not None and collector.poll() is None:
            collector.kill()
            collector.communicate()
        broker.stop()


def test_collector_exits_4_when_nothing_answers_and_serves_nothing(influx_server):
    _profile(f"127.0.0.1:{free_port()}", influx_server.url)
    port = free_port()
    collector = _collector("--health-port", str(port), "--exit-after", "60")
    _, err = collector.communicate(timeout=60)
    assert collector.returncode == EXIT_UNREACHABLE, err[-3000:]
    assert "nothing answers at 127.0.0.1:" in err and "(connection refused)" in err
    assert _healthz(port)[0] == 0  # it never served /healthz


def test_an_unknown_profile_is_a_usage_error_exit_2():
    env = {**os.environ, "TICKERWIRE_HOME": str(tickerwire_home())}
    unknown = subprocess.run([sys.executable, "-m", "app.cli", "collect", "--pipeline", "stack", "--stack-profile",
                              "nowhere", "--demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2
    assert "no remote profile 'nowhere'" in unknown.stderr
