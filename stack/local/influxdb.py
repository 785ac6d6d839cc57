"""A real InfluxDB OSS server built from source with Go, for the hot store's local stack and tests.

There is no InfluxDB 2 package or Docker engine here, but InfluxDB OSS 1.8 serves
the same ``/api/v2/write`` and Flux ``/api/v2/query`` endpoints that influxdb-client
uses. ``prepare(cache)`` builds ``influxd`` from the Go module
``github.com/influxdata/influxdb`` into ``<cache>/influxdb/<version>/bin/influxd``
(pure Go, ``CGO_ENABLED=0``; about three minutes cold on two cores, nothing when the
binary is already there). :class:`InfluxServer` starts it on 127.0.0.1 with a free
port, a throw-away data directory, authentication off and Flux on, waits for
``/ping``, and stops it with SIGTERM (SIGKILL after a timeout).

With authentication off, any token works and a bucket is ``"<database>/<retention policy>"``.
With ``auth=True`` (a shared stack's InfluxDB), a token is ``"user:password"``: :meth:`InfluxServer.add_user`
creates an admin first (1.8 lets the first admin in without a login), then users that may only read or
also write one database, as an operator hands out a read-only token to the desks and a write one to the
collector.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from stack.local import PrepareMissing, cache_dir, prepare_hint
from stack.versions import INFLUXDB_MODULE, INFLUXDB_VERSION

#: The Go module of influxd (the version is :data:`stack.versions.INFLUXDB_VERSION`: the newest 1.8 release
#: the Go module proxy serves whose build needs no cgo/Rust; 1.9+ pull in libflux).
MODULE = INFLUXDB_MODULE

CONFIG_TEMPLATE = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = true
  check-interval = "{retention_check}"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth}
  log-enabled = false
  flux-enabled = true
  max-body-size = 0

[continuous_queries]
  enabled = false
"""


class InfluxServerError(RuntimeError):
    """influxd could not be built, started, or did not become ready."""


def binary_path(cache: Path | None = None) -> Path:
    """Where the built ``influxd`` lives in the cache."""
    return (cache or cache_dir()) / "influxdb" / INFLUXDB_VERSION / "bin" / "influxd"


def go_binary() -> str:
    """The ``go`` tool: on PATH, else the standard /usr/local/go install.

    Raises:
        InfluxServerError: no Go toolchain is installed.
    """
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if not found:
        raise InfluxServerError("building influxd needs the Go toolchain (go 1.21+) on PATH or in /usr/local/go")
    return found


def build_command(go: str) -> list[str]:
    """The ``go install`` command line that builds influxd at :data:`INFLUXDB_VERSION`."""
    ldflags = f"-s -w -X main.version={INFLUXDB_VERSION} -X main.branch=v{INFLUXDB_VERSION} -X main.commit=gomodule"
    return [go, "install", "-trimpath", f"-ldflags={ldflags}", f"{MODULE}@v{INFLUXDB_VERSION}"]


def prepare(cache: Path) -> Path:
    """Build ``influxd`` into the cache unless it is already there; return the binary's path.

    Raises:
        InfluxServerError: the build failed; the message carries the tail of Go's output.
    """
    target = binary_path(cache)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="influxd-build-", dir=target.parent))
    env = dict(os.environ, GOBIN=str(staging), CGO_ENABLED="0", GOFLAGS="-mod=mod")
    started = time.monotonic()
    result = subprocess.run(build_command(go_binary()), env=env, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise InfluxServerError(f"go install of influxd v{INFLUXDB_VERSION} failed:\n{tail}")
    os.replace(staging / "influxd", target)  # atomic: a half-built binary is never at the target path
    shutil.rmtree(staging, ignore_errors=True)
    print(f"built influxd v{INFLUXDB_VERSION} in {time.monotonic() - started:.0f}s", flush=True)
    return target


def require_binary(cache: Path | None = None) -> Path:
    """The built binary's path.

    Raises:
        PrepareMissing: it was never built; the message names the command that builds it.
    """
    path = binary_path(cache)
    if not path.is_file():
        raise PrepareMissing(f"influxd v{INFLUXDB_VERSION} is not built at {path}: run `{prepare_hint('influxdb')}`")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class InfluxServer:
    """One influxd process on loopback with its own data directory.

    Args:
        binary: The influxd to run (default: the cached build, see :func:`require_binary`).
        root: Data directory; a temporary one (removed on :meth:`stop`) when None.
        retention_check: How often influxd drops shards past their retention policy.
        http_port: HTTP port; 0 picks a free one at the first :meth:`start` (a restart keeps it).
        auth: Require a login (``Authorization: Token user:password``) for every query and write.
    """

    def __init__(
        self, binary: Path | None = None, root: Path | None = None, retention_check: str = "30m", http_port: int = 0,
        auth: bool = False,
    ) -> None:
        self.binary = binary or require_binary()
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="tickerwire-influxd-")) if root is None else Path(root)
        self.retention_check = retention_check
        self.http_port = http_port
        self.auth = auth
        self._admin = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "influxd.log"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 60.0) -> "InfluxServer":
        """Start influxd and wait until ``/ping`` answers 204.

        Raises:
            InfluxServerError: it exited or did not answer within ``timeout_s``; the message has its log tail.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.http_port = self.http_port or free_port()
        config = self.root / "influxdb.conf"
        config.write_text(
            CONFIG_TEMPLATE.format(
                root=self.root, rpc_port=free_port(), http_port=self.http_port, retention_check=self.retention_check,
                auth="true" if self.auth else "false",
            )
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "run", "-config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise InfluxServerError(f"influxd exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise InfluxServerError(f"influxd did not answer /ping within {timeout_s:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        """The process id while it runs (the leader of its own session)."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def ping(self) -> bool:
        """True when the server answers ``/ping`` with 204."""
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return response.status == 204
        except (urllib.error.URLError, OSError):
            return False

    def influxql(self, statement: str, login: str = "") -> dict:
        """Run one InfluxQL statement through ``/query`` (as ``login``, ``user:password``, or the admin).

        Raises:
            InfluxServerError: the server refused it (the message has its answer).
        """
        import json
        from urllib.parse import urlencode

        request = urllib.request.Request(f"{self.url}/query", data=urlencode({"q": statement}).encode(), method="POST")
        login = login or self._admin
        if login:
            request.add_header("Authorization", f"Token {login}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise InfluxServerError(f"influxd refused {statement.split()[0]} (HTTP {exc.code}): "
                                    f"{exc.read()[:200].decode(errors='replace')}") from exc
        error = answer.get("error") or next((r.get("error") for r in answer.get("results", []) if r.get("error")), "")
        if error:
            raise InfluxServerError(f"influxd refused {statement.split()[0]}: {error}")
        return answer

    def add_user(self, name: str, password: str, *, admin: bool = False, database: str = "",
                 privilege: str = "READ") -> str:
        """Create a user (the first must be the admin) and grant it ``privilege`` on ``database``; its token."""
        if admin:
            self.influxql(f"CREATE USER \"{name}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES")
            self._admin = f"{name}:{password}"
        else:
            self.influxql(f"CREATE USER \"{name}\" WITH PASSWORD '{password}'")
            if database:
                self.influxql(f"GRANT {privilege} ON \"{database}\" TO \"{name}\"")
        return f"{name}:{password}"

    def stop(self, timeout_s: float = 15.0, keep_data: bool = False) -> None:
        """SIGTERM, wait, SIGKILL if it lingers; remove a temporary data directory unless ``keep_data``."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self._own_root and not keep_data:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of influxd's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "InfluxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
