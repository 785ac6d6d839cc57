"""Job client and health checks of the stack's Flink containers (runs in the Flink image's venv).

``flinkctl.py run NAME SCRIPT [OPTIONS...]`` keeps the job NAME running on the cluster: when no job of
that name is active it submits SCRIPT with ``flink run --python`` (attached; the job resumes from its
newest checkpoint, see resources/flink/job_options.py); when one is active (this client was restarted)
it watches that job instead of submitting a second one. It exits non-zero when the job ends, so that
the container's restart policy or the stack's supervisor starts it again, which resubmits.

``flinkctl.py deploy NAME SCRIPT [OPTIONS...]`` submits SCRIPT to the cluster at ``$FLINK_REST`` (a
session cluster this image did not start: ``tickerwire stack deploy-jobs``) unless NAME is active
there, and exits 0 once the job is RUNNING (leaving it to the cluster).

``flinkctl.py check jobmanager | taskmanager | job NAME`` is the containers' health check: the REST API
answers; this task manager (by the resource id its entrypoint chose) is registered; the job is RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

#: Job states in which the cluster still owns the job (it may come back to RUNNING by itself).
ACTIVE = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "FAILING", "CANCELLING", "SUSPENDED"}
POLL_S = 5.0


def rest_url() -> str:
    """The job manager's REST API: ``$FLINK_REST``, else the stack's job manager on its network."""
    return os.environ.get("FLINK_REST") or f"http://{os.environ['FLINK_JOBMANAGER']}:8081"


def get(path: str, timeout: float = 4.0) -> dict:
    """GET a REST resource as JSON."""
    with urllib.request.urlopen(rest_url() + path, timeout=timeout) as response:
        return json.load(response)


def active_job(name: str) -> dict | None:
    """The active job called ``name``, if there is one."""
    for job in get("/jobs/overview")["jobs"]:
        if job["name"] == name and job["state"] in ACTIVE:
            return job
    return None


def wait_for_cluster(timeout_s: float = 300.0) -> None:
    """Block until the job manager answers and has a task manager with free or used slots."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if get("/overview").get("taskmanagers", 0) > 0:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"flinkctl: the job manager at {rest_url()} has no task manager after {timeout_s:.0f} s")
        time.sleep(2)


def watch(job_id: str) -> int:
    """Poll the job until it leaves the active states (or the job manager forgets it); return 1."""
    while True:
        time.sleep(POLL_S)
        try:
            state = get(f"/jobs/{job_id}")["state"]
        except urllib.error.HTTPError as exc:
            print(f"flinkctl: job {job_id} is gone from the job manager ({exc.code})", flush=True)
            return 1
        except (urllib.error.URLError, OSError) as exc:
            print(f"flinkctl: the job manager does not answer ({exc}); the job is lost with it", flush=True)
            return 1
        if state not in ACTIVE:
            print(f"flinkctl: job {job_id} is {state}", flush=True)
            return 1


def run(name: str, script: str, options: list[str]) -> int:
    """Submit ``script`` unless ``name`` is active; stay while the job runs."""
    wait_for_cluster()
    existing = active_job(name)
    if existing is not None:
        print(f"flinkctl: {name} is already {existing['state']} as {existing['jid']}: watching it", flush=True)
        return watch(existing["jid"])
    print(f"flinkctl: submitting {name} ({script})", flush=True)
    result = subprocess.run(["flink", "run", "--python", script, *options])
    print(f"flinkctl: the {name} client exited with {result.returncode}", flush=True)
    return result.returncode or 1


def deploy(name: str, script: str, options: list[str], timeout_s: float = 300.0) -> int:
    """Submit ``script`` to ``$FLINK_REST`` unless ``name`` is active there; 0 once it runs.

    The client (``flink run``; the job scripts wait for their job's end) is stopped once the job is
    RUNNING: the job belongs to the cluster and goes on without it."""
    wait_for_cluster(timeout_s)
    client = None
    if active_job(name) is None:
        url = urllib.parse.urlsplit(rest_url())
        template = os.path.join(os.environ["JOB_HOME"], "bin", "config.yaml.template")
        with open(template) as handle:  # the client's settings: the cluster's REST address, the Java options
            config = (handle.read().replace("@JOBMANAGER@", url.hostname)
                      .replace("rest.port: 8081", f"rest.port: {url.port or 80}"))
        conf_dir = tempfile.mkdtemp(prefix="flink-conf-")
        with open(os.path.join(conf_dir, "config.yaml"), "w") as handle:
            handle.write("\n".join(line for line in config.splitlines() if "@" not in line) + "\n")
        print(f"flinkctl: submitting {name} ({script}) to {rest_url()}", flush=True)
        client = subprocess.Popen(["flink", "run", "--python", script, *options],
                                  env={**os.environ, "FLINK_CONF_DIR": conf_dir}, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while (job := active_job(name)) is None or job["state"] != "RUNNING":
            if client is not None and client.poll() is not None:
                print(f"flinkctl: the {name} client exited with {client.returncode} first", flush=True)
                return client.returncode or 1
            if time.monotonic() > deadline:
                print(f"flinkctl: {name} is {job['state'] if job else 'not there'} after {timeout_s:.0f} s", flush=True)
                return 1
            time.sleep(2)
    finally:
        if client is not None and client.poll() is None:
            os.killpg(client.pid, signal.SIGTERM)
            client.wait()
    print(f"flinkctl: {name} is RUNNING as {job['jid']}", flush=True)
    return 0


def check(role: str, name: str = "") -> int:
    """0 when ``role`` is healthy (see the module docstring), 1 otherwise (with the reason on stdout)."""
    try:
        if role == "jobmanager":
            get("/overview")
            return 0
        if role == "taskmanager":
            with open(os.path.join(os.environ["JOB_HOME"], "tmp", "resource-id")) as handle:
                mine = handle.read().strip()
            registered = {tm["id"] for tm in get("/taskmanagers")["taskmanagers"]}
            if mine in registered:
                return 0
            print(f"task manager {mine} is not registered yet")
            return 1
        if role == "job":
            job = active_job(name)
            if job is not None and job["state"] == "RUNNING":
                return 0
            print(f"job {name} is {job['state'] if job else 'not submitted yet'}")
            return 1
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        print(f"{role}: {exc}")
        return 1
    print(f"unknown role {role!r}")
    return 2


def main(argv: list[str]) -> int:
    """``run NAME SCRIPT [OPTIONS...]``, ``deploy NAME SCRIPT [OPTIONS...]`` or ``check ROLE [NAME]``."""
    if len(argv) >= 3 and argv[0] in ("run", "deploy"):
        return (run if argv[0] == "run" else deploy)(argv[1], argv[2], argv[3:])
    if len(argv) >= 2 and argv[0] == "check":
        return check(argv[1], argv[2] if len(argv) > 2 else "")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
