"""``tickerwire stack …`` without a Docker engine: "Docker not found" and the local processes, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

from stack.local import free_ports


def test_every_stack_command_says_docker_not_found_and_what_the_local_processes_are():
    dead = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    for command in (["up"], ["status", "--json"], ["down", "--volumes"],
                    ["deploy-jobs", "--flink", "http://127.0.0.1:8081", "--bootstrap-servers", "kafka:19092"]):
        result = subprocess.run([sys.executable, "-m", "app.cli", "stack", *command], capture_output=True, text=True,
                                env={**os.environ, "DOCKER_HOST": dead}, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"Docker not found: no Docker engine answers at {dead}")
        assert "Without Docker the Stack tab runs Kafka, Flink and InfluxDB as local processes" in result.stderr
        assert result.stdout == ""


def test_the_stack_command_needs_a_subcommand():
    result = subprocess.run([sys.executable, "-m", "app.cli", "stack"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "up,status,down" in result.stderr.replace(" ", "")


def test_a_long_build_step_shows_it_is_still_running_with_its_last_output():
    """A cold `stack up` prints while a silent step (the Flink venv's pip install) runs, and stops once it ends."""
    import io
    import time

    from stack.cli import _Printer
    from stack.types import Progress

    out = io.StringIO()
    printer = _Printer(out)
    printer.HEARTBEAT_S = 0.3
    with printer:
        printer(Progress("build", "flink", "flink: step 4/9: RUN pip install apache-flink==2.2.1", 4, 9))
        printer(Progress("build", "flink", "flink: Collecting apache-flink==2.2.1"))
        time.sleep(1.2)
        printer(Progress("build", "flink", "built image tickerwire/flink:2.2.1-abc", 9, 9))
        time.sleep(0.8)
    lines = out.getvalue().splitlines()
    beats = [line for line in lines if "still running" in line]
    assert beats and all("flink: step 4/9 still running" in line for line in beats)
    assert beats[0].endswith("last output: Collecting apache-flink==2.2.1")
    assert "still running" not in lines[-1] and lines[-1].endswith("built image tickerwire/flink:2.2.1-abc")
