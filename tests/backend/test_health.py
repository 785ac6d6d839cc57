"""``/healthz`` (backend/health.py) over real HTTP on 127.0.0.1: 200 while the check passes, 503 with the reason when
it does not or when it raises, 404 elsewhere; the check runs at most once per interval however often it is asked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from backend.health import HealthServer


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served():
    servers = []

    def serve(check, **options) -> HealthServer:
        server = HealthServer(check, **options).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


def test_ok_then_unhealthy_with_the_reason(served):
    problem = [""]
    server = served(lambda: problem[0], min_interval_s=0)
    assert server.url.startswith("http://127.0.0.1:")
    status, body = _get(server.url)
    assert (status, body["status"], body["reason"]) == (200, "ok", "")
    problem[0] = "Kafka does not answer: all brokers down"
    status, body = _get(server.url)
    assert (status, body["status"], body["reason"]) == (503, "unhealthy", "Kafka does not answer: all brokers down")


def test_a_check_that_raises_is_unhealthy_not_a_dead_endpoint(served):
    def broken() -> str:
        raise RuntimeError("boom")

    status, body = _get(served(broken, min_interval_s=0).url)
    assert status == 503 and body["reason"] == "the health check failed: RuntimeError: boom"


def test_the_check_runs_at_most_once_per_interval(served):
    calls = []
    server = served(lambda: calls.append(1) or "", min_interval_s=60)
    for _ in range(5):
        assert _get(server.url)[0] == 200
    assert len(calls) == 1


def test_only_healthz_is_served(served):
    server = served(lambda: "")
    assert _get(server.url.replace("/healthz", "/"))[0] == 404
