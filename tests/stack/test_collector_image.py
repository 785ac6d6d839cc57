"""The collector's image as the plan makes it: built FROM the stack's base, its code and only its code (no Qt), every
Python package pinned with its hash, no secret in its recipe; and that code runs ``collect`` on its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

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
