"""The collector's image as the plan makes it: built FROM the stack's base, its code and only its code (no Qt), every
Python package pinned with its hash, no secret in its recipe; and that code runs ``collect`` on its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from stack import locks
from stack.plan.images import collector_builds, image_builds
from stack.plan.spec import StackSpec
from stack.repo import REPO_ROOT, RepoTree

TREE = RepoTree()
COLLECTOR_DIR = REPO_ROOT / "resources" / "docker" / "collector"


def test_the_collector_builds_on_the_stacks_own_base_image():
    base, collector = collector_builds(StackSpec(base_image="local/debian:bookworm"), TREE)
    stack_base = {b.name: b for b in image_builds(StackSpec(base_image="local/debian:bookworm"), TREE)}["base"]
    assert base.tag == stack_base.tag  # the very base image the stack's images use (layers shared)
    assert collector.parent == "base" and dict(collector.buildargs)["PARENT_IMAGE"] == base.tag
    assert re.fullmatch(r"tickerwire/collector:1-[0-9a-f]{12}", collector.tag)
    assert "FROM ${PARENT_IMAGE}" in (COLLECTOR_DIR / "Dockerfile").read_text()


def test_its_context_is_the_backend_the_stack_and_the_command_line_without_qt():
    _, collector = collector_builds(StackSpec(), TREE)
    context = dict(collector.context)
    assert {"Dockerfile", "requirements.lock", "healthcheck", "src/backend/collect.py", "src/backend/health.py",
            "src/app/cli.py", "src/app/stack_mode.py", "src/stack/remote/cli.py"} <= set(context)
    assert not [p for p in context if p.startswith("src/app/") and p not in
                ("src/app/__init__.py", "src/app/cli.py", "src/app/stack_mode.py")]


def test_no_secret_in_the_recipe():
    recipe = (COLLECTOR_DIR / "Dockerfile").read_text()
    instructions = [line for line in recipe.splitlines() if re.match(r"(ENV|ARG|CMD|ENTRYPOINT|LABEL)\b", line)]
    assert instructions and not [line for line in instructions if re.search(r"PASSWORD|TOKEN|SECRET|KEY=", line)]


def test_the_collector_lock_is_pyprojects_dependencies_without_qt_and_hashes_every_package():
    lock = COLLECTOR_DIR / "requirements.lock"
    assert locks.read_inputs(lock) == locks.pip_inputs_line("collector"), \
        f"{lock} is stale: run `python -m stack.locks collector`"
    lines = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.\-+!]+ --hash=sha256:[0-9a-f]{64}", line) for line in lines)
    names = {line.split("==")[0].lower() for line in lines}
    assert {"confluent-kafka", "influxdb-client", "polygon-api-client", "pyiceberg", "keyring"} <= names
    assert not names & {"pyside6", "pyqtgraph", "qasync", "shiboken6"}


def test_the_images_code_alone_runs_the_collectors_command_line_without_qt(tmp_path):
    _, collector = collector_builds(StackSpec(), TREE)
    for path, source in dict(collector.context).items():
        if path.startswith("src/"):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / source, target)
    blocked = "import sys, runpy; sys.modules.update(PySide6=None, pyqtgraph=None, qasync=None); " \
              f"import app; assert app.__file__.startswith({str(tmp_path)!r}), app.__file__; " \
              "sys.argv = ['tickerwire', 'collect', '--help']; runpy.run_module('app.cli', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "src"), "PYTHONNOUSERSITE": "1"},
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--health-port" in result.stdout and "--stack-profile" in result.stdout


# --- on a real engine ----------------------------------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_the_image_builds_runs_the_collector_and_reports_its_health(docker_engine, tmp_path):
    """Built as `tickerwire stack collector-image` builds it; the profile written into its volume by the image's own
    command line; collecting into a real broker on the host (host network) with Docker's HEALTHCHECK healthy."""
    import io
    import json
    import time
    import urllib.request
    import uuid

    from app.cli import build_parser
    from backend.bus.kafka import default_topics
    from stack.cli import run
    from stack.engine import connect
    from stack.local.influxdb import InfluxServer
    from stack.local.kafka import KafkaBroker, free_port

    out = io.StringIO()
    assert run(build_parser().parse_args(["stack", "collector-image"]), out, out) == 0, out.getvalue()[-3000:]
    image = out.getvalue().strip().splitlines()[-1]
    assert re.fullmatch(r"tickerwire/collector:1-[0-9a-f]{12}", image)
    client = connect(None)
    config = client.images.get(image).attrs["Config"]
    assert config["User"] == "tickerwire" and config["Healthcheck"]["Test"][-1] == "/usr/local/bin/tickerwire-healthcheck"
    assert not [e for e in config["Env"] if re.search(r"PASSWORD|TOKEN|SECRET", e.split("=")[0])]

    broker, influx = KafkaBroker(tmp_path / "kafka"), InfluxServer(root=tmp_path / "influx")
    volume = client.volumes.create(f"twtest-collector-{uuid.uuid4().hex[:6]}")
    container = None
    try:
        broker.start()
        influx.start()
        broker.create_topics(default_topics(partitions=1))
        mount = {volume.name: {"bind": "/var/lib/tickerwire", "mode": "rw"}}
        said = client.containers.run(image, ["stack", "profile", "set", "server", "--kafka-bootstrap",
                                             broker.bootstrap_servers, "--influx-url", influx.url],
                                     volumes=mount, network_mode="host", remove=True)
        assert b"saved server" in said
        port = free_port()
        container = client.containers.run(
            image, ["collect", "--pipeline", "stack", "--stack-profile", "server", "--demo", "--watch", "DKR",
                    "--health-port", str(port)],
            environment={"HEALTH_PORT": str(port)}, volumes=mount, network_mode="host", detach=True)
        deadline, status = time.monotonic() + 120, ""
        while time.monotonic() < deadline and status != "healthy":
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status", "")
            assert container.status != "exited", container.logs()[-3000:]
            time.sleep(2)
        assert status == "healthy", container.logs()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert json.loads(answer.read())["status"] == "ok"
        container.stop(timeout=60)  # SIGTERM: everything held is delivered, exit 0
        assert container.wait(timeout=90)["StatusCode"] == 0, container.logs()[-3000:]
        assert b"stopping: signal received" in container.logs()
    finally:
        if container is not None:
            container.remove(force=True)
        volume.remove(force=True)
        broker.stop()
        influx.stop()
