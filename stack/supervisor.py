"""Keeps a running Docker stack's containers up: restarts any that stops while the stack is up.

Docker's restart policy (``unless-stopped``) brings back a container whose process crashes, but
``docker kill`` counts as a deliberate stop for the engine (20.10 and later) and the container stays
down. The supervisor — a small detached process that ``stack up`` starts and ``stack down`` stops
before anything else — watches the engine's ``die`` events for the stack's containers and starts
each one again (after a second, unless the engine is already restarting it; with a growing pause
when one keeps dying). When it starts it also restarts any of the stack's containers found stopped.

Run as ``python -m stack.supervisor --stack NAME`` (the engine address comes from ``DOCKER_HOST``).
:func:`start` and :func:`stop` manage that process through a pid file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stack.engine import connect, explain
from stack.plan.spec import LABEL, SERVICE_LABEL

log = logging.getLogger("stack.supervisor")
#: Pause before restarting a container that died (lets the engine's own restart policy act first).
GRACE_S = 1.0
#: A container that dies this often within :data:`WINDOW_S` is restarted after a growing pause (max 60 s).
BURST = 3
WINDOW_S = 120.0


class Supervisor:
    """Restarts the stopped containers of one stack.

    Args:
        stack: The stack's name (its label value).
        base_url: Engine address (default ``DOCKER_HOST``).
    """

    def __init__(self, stack: str, base_url: str | None = None) -> None:
        self.stack = stack
        self.base_url = base_url
        self._deaths: dict[str, list[float]] = {}

    def run_forever(self) -> None:
        """Watch and restart until killed; reconnect when the engine goes away."""
        while True:
            try:
                client = connect(self.base_url)
            except Exception as exc:  # noqa: BLE001 - DockerUnavailable: wait for the engine to come back
                log.warning("no engine: %s", exc)
                time.sleep(5)
                continue
            try:
                self.catch_up(client)
                self.watch(client)
            except Exception as exc:  # noqa: BLE001 - a broken event stream: reconnect
                log.warning("event stream ended: %s", explain(exc))
                time.sleep(1)
            finally:
                client.close()

    def catch_up(self, client) -> None:
        """Start every container of the stack that is stopped now."""
        for container in client.containers.list(all=True, filters={"label": f"{LABEL}={self.stack}",
                                                                    "status": "exited"}):
            self.restart(client, container.id, container.labels.get(SERVICE_LABEL, container.name))

    def watch(self, client) -> None:
        """Follow ``die`` events of the stack's containers and restart each one."""
        events = client.events(decode=True, filters={"type": "container", "event": "die",
                                                     "label": f"{LABEL}={self.stack}"})
        for event in events:
            attributes = event.get("Actor", {}).get("Attributes", {})
            self.restart(client, event.get("id", ""), attributes.get(SERVICE_LABEL, attributes.get("name", "?")))

    def restart(self, client, container_id: str, service: str) -> None:
        """Start the container after :data:`GRACE_S` (more when it keeps dying) unless it runs or is gone."""
        now = time.monotonic()
        deaths = [t for t in self._deaths.get(container_id, []) if now - t < WINDOW_S] + [now]
        self._deaths[container_id] = deaths
        pause = GRACE_S if len(deaths) <= BURST else min(60.0, 2.0 ** (len(deaths) - BURST))
        time.sleep(pause)
        try:
            container = client.containers.get(container_id)
        except Exception:  # noqa: BLE001 - removed meanwhile (stack down, a replaced container)
            return
        if container.status != "exited":
            return  # running again (restart policy), restarting, or being removed
        log.info("%s stopped (exit code %s): starting it again", service,
                 container.attrs.get("State", {}).get("ExitCode"))
        try:
            container.start()
        except Exception as exc:  # noqa: BLE001 - report and wait for the next event
            log.warning("starting %s failed: %s", service, explain(exc))


# --- the supervisor process -------------------------------------------------------------------------------------


def pid_file(state_dir: Path, stack: str) -> Path:
    """The pid file of the supervisor of ``stack``."""
    return state_dir / f"supervisor-{stack}.pid"


def running_pid(state_dir: Path, stack: str) -> int | None:
    """The pid of this stack's supervisor if it runs (checked against the process's command line)."""
    try:
        pid = int(pid_file(state_dir, stack).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"stack.supervisor" in cmdline and stack.encode() in cmdline else None


def start(state_dir: Path, stack: str, base_url: str | None = None) -> int:
    """Start the supervisor of ``stack`` as a detached process unless it runs; return its pid."""
    pid = running_pid(state_dir, stack)
    if pid is not None:
        return pid
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if base_url:
        env["DOCKER_HOST"] = base_url
    with open(state_dir / f"supervisor-{stack}.log", "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "stack.supervisor", "--stack", stack], env=env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=str(Path(__file__).resolve().parents[1]))
    pid_file(state_dir, stack).write_text(str(process.pid))
    return process.pid


def stop(state_dir: Path, stack: str, timeout_s: float = 10.0) -> None:
    """Stop this stack's supervisor (SIGTERM, then SIGKILL) if it runs."""
    pid = running_pid(state_dir, stack)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and running_pid(state_dir, stack) == pid and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file(state_dir, stack).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our own child, in tests) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m stack.supervisor --stack NAME``."""
    parser = argparse.ArgumentParser(prog="python -m stack.supervisor", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack's name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("supervising stack %s", args.stack)
    Supervisor(args.stack).run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
