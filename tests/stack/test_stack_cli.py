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
