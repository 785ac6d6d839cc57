"""``/healthz`` for a supervisor: a tiny HTTP endpoint on 127.0.0.1 that says whether the collector works.

:class:`HealthServer` answers ``GET /healthz`` with ``200`` and ``{"status": "ok", …}`` while its check
passes, and ``503`` with the reason while it does not (the pipeline died, Kafka does not answer). The
check runs at most once per ``min_interval_s`` however often a supervisor asks, so a probe costs
the cluster one metadata request at most. Only the loopback address is served: a container maps
the port, a systemd unit or Docker's ``HEALTHCHECK`` asks locally. No secret is ever in an answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

log = logging.getLogger(__name__)

#: A check returns '' when healthy, else why not (one line, no secret).
Check = Callable[[], str]


class HealthServer:
    """``GET /healthz`` on ``host:port`` (port 0: a free one, see :attr:`port`), on a daemon thread.

    Args:
        check: '' when healthy, else the reason.
        port: TCP port on ``host``.
        host: The address served (the loopback by default; never a public one without a reason).
        min_interval_s: The check's result is reused for this long.
    """

    def __init__(self, check: Check, port: int = 0, host: str = "127.0.0.1", min_interval_s: float = 2.0) -> None:
        self._check = check
        self._min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None
        self.started = time.time()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/healthz":
                    self._answer(404, {"status": "unknown", "reason": "only /healthz is served"})
                    return
                problem = server.problem()
                self._answer(503 if problem else 200,
                             {"status": "unhealthy" if problem else "ok", "reason": problem,
                              "uptime_s": round(time.time() - server.started, 1)})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
                pass  # a supervisor asks every few seconds: no line per probe

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tickerwire-healthz", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/healthz"

    def problem(self) -> str:
        """The check's latest result ('' = healthy), rerun when older than ``min_interval_s``."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._min_interval_s:
                try:
                    found = self._check()
                except Exception as exc:  # a broken check is an unhealthy service, not a dead endpoint
                    found = f"the health check failed: {type(exc).__name__}: {exc}"
                if found != (self._cached[1] if self._cached else ""):
                    log.log(logging.WARNING if found else logging.INFO, "health: %s", found or "ok")
                self._cached = (now, found)
            return self._cached[1]

    def start(self) -> "HealthServer":
        self._thread.start()
        log.info("health endpoint: %s", self.url)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
