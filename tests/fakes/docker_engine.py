"""A local HTTP server that plays the Docker Engine API for docker-py, because no engine exists here.

No Docker daemon runs on the development machines or in CI, so :class:`FakeDockerEngine`
answers the calls docker-py makes while :mod:`stack.docker_backend` brings the stack up and
down, in the Engine API's documented formats (API 1.45): ``/_ping``, ``/version``, image
inspect, ``/images/create`` (a *chunked* stream of JSON progress objects, as the engine sends),
``/build`` (a tar body in, a stream of ``{"stream": …}`` lines out, ``{"error": …}`` on failure),
networks, volumes, containers (create/inspect/list/start/stop/remove/archive/logs, logs in the
multiplexed stdout/stderr frame format) and exec (``101 UPGRADED`` then a raw frame stream).

It keeps real state and checks what a real engine would refuse: a duplicate container name
(409), an image that was neither pulled nor built (404), a network or volume that does not
exist, a build whose Dockerfile ``COPY``\\s a file missing from the context or builds ``FROM``
an image that is not present. Starting a container really binds its published host ports on
127.0.0.1 (and fails like the engine does when one is taken). Faults are scripted per test:

* ``unknown_images``: references the "registry" does not have (pull answers 404 ``manifest unknown``);
* ``pull_errors``: reference -> message sent as an ``error`` object in the middle of the stream;
* ``build_error``: message sent as the build's ``error`` object;
* ``health``: container name -> statuses its health check reports, one per inspect (the last repeats);
  ``"exit:N"`` makes the container exit with code N;
* ``exec_results``: substring of the command -> (exit code, output).

Every request is recorded in ``requests`` as ``(method, path, query)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import struct
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def _frame(stream: int, data: bytes) -> bytes:
    """One frame of the multiplexed stream: stream id (1 stdout, 2 stderr), 3 zero bytes, big-endian size."""
    return struct.pack(">BxxxL", stream, len(data)) + data


@dataclass
class FakeContainer:
    id: str
    name: str
    image: str
    config: dict
    host_config: dict
    networks: dict
    status: str = "created"
    exit_code: int = 0
    health_script: list[str] = field(default_factory=list)
    health: str | None = None
    health_log: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    sockets: list[socket.socket] = field(default_factory=list)
    log: list[tuple[int, bytes]] = field(default_factory=list)
    started_at: str = "0001-01-01T00:00:00Z"

    def inspect(self) -> dict:
        state = {"Status": self.status, "Running": self.status == "running", "Paused": False,
                 "Restarting": False, "OOMKilled": False, "Dead": self.status == "dead", "Pid": 4242 if
                 self.status == "running" else 0, "ExitCode": self.exit_code, "Error": "",
                 "StartedAt": self.started_at, "FinishedAt": "0001-01-01T00:00:00Z"}
        if self.config.get("Healthcheck") and self.health:
            state["Health"] = {"Status": self.health, "FailingStreak": 0 if self.health != "unhealthy" else 3,
                               "Log": self.health_log[-5:]}
        ports = {}
        for key, bindings in (self.host_config.get("PortBindings") or {}).items():
            ports[key] = [{"HostIp": b.get("HostIp", ""), "HostPort": b.get("HostPort", "")} for b in bindings or []]
        return {
            "Id": self.id, "Created": _now(), "Path": (self.config.get("Cmd") or [""])[0],
            "Args": (self.config.get("Cmd") or [])[1:], "State": state, "Image": f"sha256:{self.id}",
            "Name": "/" + self.name, "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
            "Config": {**self.config, "Image": self.image}, "HostConfig": self.host_config,
            "Mounts": [{"Type": "volume", "Name": b.split(":")[0], "Destination": b.split(":")[1],
                        "Driver": "local", "Mode": "rw", "RW": True} for b in self.host_config.get("Binds") or []],
            "NetworkSettings": {"Ports": ports, "Networks": {n: {"NetworkID": i} for n, i in self.networks.items()}},
        }

    def summary(self) -> dict:
        return {"Id": self.id, "Names": ["/" + self.name], "Image": self.image, "ImageID": f"sha256:{self.id}",
                "Command": " ".join(self.config.get("Cmd") or []), "Created": int(time.time()),
                "State": self.status, "Status": self.status, "Labels": self.config.get("Labels") or {},
                "Ports": [], "Mounts": []}


class FakeDockerEngine:
    """The fake engine's state and its HTTP server (``with FakeDockerEngine() as engine: engine.url``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.images: dict[str, dict] = {}
        self.networks: dict[str, dict] = {}
        self.volumes: dict[str, dict] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.execs: dict[str, dict] = {}
        self.builds: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.unknown_images: set[str] = set()
        self.pull_errors: dict[str, str] = {}
        self.build_error: str | None = None
        self.health: dict[str, list[str]] = {}
        self.exec_results: dict[str, tuple[int, str]] = {}
        self.pull_delay_s = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-docker", daemon=True)

    @property
    def url(self) -> str:
        """``tcp://127.0.0.1:PORT`` for ``docker.DockerClient(base_url=…)``."""
        return f"tcp://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeDockerEngine":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            for container in self.containers.values():
                self._release(container)

    def __enter__(self) -> "FakeDockerEngine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers used by the handler and by tests ---------------------------------------------------------

    def add_image(self, ref: str) -> dict:
        ref = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
        image = {"Id": "sha256:" + hashlib.sha256(ref.encode()).hexdigest(), "RepoTags": [ref],
                 "Created": _now(), "Size": 1000, "Config": {"Labels": {}}}
        self.images[ref] = image
        return image

    def find_container(self, ident: str) -> FakeContainer | None:
        for container in self.containers.values():
            if container.id == ident or container.id.startswith(ident) or container.name == ident.lstrip("/"):
                return container
        return None

    def container_by_name(self, name: str) -> FakeContainer:
        container = self.find_container(name)
        assert container is not None, f"no container {name}"
        return container

    def _release(self, container: FakeContainer) -> None:
        for sock in container.sockets:
            sock.close()
        container.sockets.clear()

    def advance_health(self, container: FakeContainer) -> None:
        """One health-check run: take the next scripted status (``starting`` then ``healthy`` by default)."""
        if container.status != "running":
            return
        script = container.health_script
        status = script.pop(0) if len(script) > 1 else (script[0] if script else "healthy")
        if status.startswith("exit:"):
            container.status, container.exit_code = "exited", int(status.split(":")[1])
            container.log.append((2, f"{container.name}: fatal error, exiting with {container.exit_code}\n".encode()))
            self._release(container)
            return
        if container.config.get("Healthcheck"):
            container.health = status
            output = "ok" if status == "healthy" else ("connection refused" if status == "unhealthy" else "")
            container.health_log.append({"Start": _now(), "End": _now(), "ExitCode": 0 if status == "healthy"
                                         else 1, "Output": output})


def _matches(labels: dict, wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _handler(engine: FakeDockerEngine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeDocker/" + API_VERSION

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and the client's
            # delayed ACK add ~40 ms to every request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # --- plumbing -------------------------------------------------------------------------------------

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: object = None, content_type: str = "application/json") -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"message": message})

        def _stream(self, events) -> None:
            """A chunked body of JSON objects, one per chunk, as the engine streams pulls and builds."""
            self.send_response(200)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for event in events:
                    data = json.dumps(event).encode() + b"\r\n"
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):  # the client hung up (a cancelled pull)
                self.close_connection = True

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = re.sub(r"^/v\d+\.\d+", "", unquote(parts.path))
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            with engine.lock:
                engine.requests.append((method, path, query))
            for pattern, name in ROUTES:
                if pattern[0] == method and (m := re.fullmatch(pattern[1], path)):
                    return getattr(self, name)(query, *m.groups())
            self._error(404, f"page not found: {method} {path}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        # --- system ---------------------------------------------------------------------------------------

        def ping(self, query) -> None:
            self._send(200, b"OK", "text/plain; charset=utf-8")

        def version(self, query) -> None:
            self._send(200, {"Version": "27.3.1", "ApiVersion": API_VERSION, "MinAPIVersion": "1.24",
                             "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
                             "Components": [{"Name": "Engine", "Version": "27.3.1"}]})

        # --- images ---------------------------------------------------------------------------------------

        def image_inspect(self, query, name) -> None:
            ref = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
            with engine.lock:
                image = engine.images.get(ref)
            if image is None:
                return self._error(404, f"No such image: {ref}")
            self._send(200, image)

        def image_create(self, query) -> None:
            ref = f"{query.get('fromImage', '')}:{query.get('tag', 'latest')}"
            if ref in engine.unknown_images:
                return self._error(404, f"manifest for {ref} not found: manifest unknown: manifest unknown")
            layers = [hashlib.sha256(f"{ref}{i}".encode()).hexdigest()[:12] for i in range(3)]
            sizes = [3_000_000, 20_000_000, 1_000_000]

            def events():
                tag = ref.rsplit(":", 1)[1]
                yield {"status": f"Pulling from {query.get('fromImage')}", "id": tag}
                for layer in layers:
                    yield {"status": "Pulling fs layer", "progressDetail": {}, "id": layer}
                for layer, size in zip(layers, sizes):
                    for done in (size // 4, size // 2, size):
                        time.sleep(engine.pull_delay_s)
                        yield {"status": "Downloading", "progressDetail": {"current": done, "total": size},
                               "progress": f"[=====>    ] {done}B/{size}B", "id": layer}
                        if ref in engine.pull_errors and layer == layers[1] and done == size // 2:
                            message = engine.pull_errors[ref]
                            yield {"errorDetail": {"message": message}, "error": message}
                            return
                    yield {"status": "Download complete", "progressDetail": {}, "id": layer}
                    yield {"status": "Pull complete", "progressDetail": {}, "id": layer}
                digest = hashlib.sha256(ref.encode()).hexdigest()
                yield {"status": f"Digest: sha256:{digest}"}
                with engine.lock:
                    engine.add_image(ref)
                yield {"status": f"Status: Downloaded newer image for {ref}"}

            self._stream(events())

        def build(self, query) -> None:
            body = self._body()
            tag = query.get("t", "")
            buildargs = json.loads(query.get("buildargs") or "{}")
            try:
                with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                    files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
            except tarfile.TarError as exc:
                return self._error(500, f"failed to read the build context: {exc}")
            dockerfile = files.get(query.get("dockerfile") or "Dockerfile")
            if dockerfile is None:
                return self._error(500, "Cannot locate specified Dockerfile: Dockerfile")
            steps = _instructions(dockerfile.decode())
            error = _check_dockerfile(steps, files, buildargs, engine)
            with engine.lock:
                engine.builds.append({"tag": tag, "files": sorted(files), "buildargs": buildargs,
                                      "labels": json.loads(query.get("labels") or "{}")})

            def events():
                for number, (keyword, rest) in enumerate(steps, 1):
                    yield {"stream": f"Step {number}/{len(steps)} : {keyword} {rest}\n"}
                    if error and error[0] == number:
                        yield {"errorDetail": {"message": error[1]}, "error": error[1]}
                        return
                    yield {"stream": f" ---> {hashlib.sha256(f'{tag}{number}'.encode()).hexdigest()[:12]}\n"}
                if engine.build_error:
                    yield {"errorDetail": {"message": engine.build_error}, "error": engine.build_error}
                    return
                with engine.lock:
                    image = engine.add_image(tag)
                yield {"aux": {"ID": image["Id"]}}
                yield {"stream": f"Successfully built {image['Id'][7:19]}\n"}
                yield {"stream": f"Successfully tagged {tag}\n"}

            self._stream(events())

        # --- networks and volumes -------------------------------------------------------------------------

        def network_list(self, query) -> None:
            filters = json.loads(query.get("filters") or "{}")
            with engine.lock:
                found = [n for n in engine.networks.values()
                         if (not filters.get("name") or n["Name"] in filters["name"])
                         and _matches(n["Labels"], filters.get("label", []))]
            self._send(200, found)

        def network_create(self, query) -> None:
            spec = json.loads(self._body() or b"{}")
            with engine.lock:
                if any(n["Name"] == spec["Name"] for n in engine.networks.values()):
                    return self._error(409, f"network with name {spec['Name']} already exists")
                ident = uuid.uuid4().hex * 2
                engine.networks[ident] = {"Name": spec["Name"], "Id": ident, "Created": _now(), "Scope": "local",
                                          "Driver": spec.get("Driver") or "bridge", "Labels": spec.get("Labels") or {},
                                          "Containers": {}, "Options": {}, "Internal": False}
            self._send(201, {"Id": ident, "Warning": ""})

        def network_inspect(self, query, ident) -> None:
            with engine.lock:
                network = next((n for n in engine.networks.values() if ident in (n["Id"], n["Name"])), None)
            if network is None:
                return self._error(404, f"network {ident} not found")
            self._send(200, network)

        def network_remove(self, query, ident) -> None:
            with engine.lock:
                network = next((n for n in engine.networks.values() if ident in (n["Id"], n["Name"])), None)
                if network is None:
                    return self._error(404, f"network {ident} not found")
                users = [c.name for c in engine.containers.values() if network["Name"] in c.networks]
                if users:
                    return self._error(403, f"error while removing network: network {network['Name']} id "
                                            f"{network['Id']} has active endpoints")
                del engine.networks[network["Id"]]
            self._send(204)

        def volume_list(self, query) -> None:
            filters = json.loads(query.get("filters") or "{}")
            with engine.lock:
                found = [v for v in engine.volumes.values() if _matches(v["Labels"], filters.get("label", []))]
            self._send(200, {"Volumes": found, "Warnings": []})

        def volume_create(self, query) -> None:
            spec = json.loads(self._body() or b"{}")
            name = spec.get("Name") or uuid.uuid4().hex
            with engine.lock:
                volume = engine.volumes.setdefault(name, {
                    "Name": name, "Driver": spec.get("Driver") or "local", "Labels": spec.get("Labels") or {},
                    "Mountpoint": f"/var/lib/docker/volumes/{name}/_data", "Scope": "local", "Options": {},
                    "CreatedAt": _now()})
            self._send(201, volume)

        def volume_inspect(self, query, name) -> None:
            with engine.lock:
                volume = engine.volumes.get(name)
            if volume is None:
                return self._error(404, f"get {name}: no such volume")
            self._send(200, volume)

        def volume_remove(self, query, name) -> None:
            with engine.lock:
                if name not in engine.volumes:
                    return self._error(404, f"get {name}: no such volume")
                users = [c.name for c in engine.containers.values()
                         if any(b.split(":")[0] == name for b in c.host_config.get("Binds") or [])]
                if users:
                    return self._error(409, f"remove {name}: volume is in use - [{', '.join(users)}]")
                del engine.volumes[name]
            self._send(204)

        # --- containers -----------------------------------------------------------------------------------

        def container_list(self, query) -> None:
            filters = json.loads(query.get("filters") or "{}")
            show_all = query.get("all") in ("1", "True", "true")
            with engine.lock:
                found = [c.summary() for c in engine.containers.values()
                         if (show_all or c.status == "running")
                         and _matches(c.config.get("Labels") or {}, filters.get("label", []))]
            self._send(200, found)

        def container_create(self, query) -> None:
            spec = json.loads(self._body() or b"{}")
            name = query.get("name") or uuid.uuid4().hex[:12]
            image = spec.get("Image", "")
            ref = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
            host_config = spec.get("HostConfig") or {}
            with engine.lock:
                if engine.find_container(name):
                    return self._error(409, f'Conflict. The container name "/{name}" is already in use')
                if ref not in engine.images:
                    return self._error(404, f"No such image: {ref}")
                networks = {}
                mode = host_config.get("NetworkMode")
                if mode and mode not in ("default", "bridge"):
                    network = next((n for n in engine.networks.values() if n["Name"] == mode), None)
                    if network is None:
                        return self._error(404, f"network {mode} not found")
                    networks[mode] = network["Id"]
                for bind in host_config.get("Binds") or []:
                    engine.volumes.setdefault(bind.split(":")[0], {
                        "Name": bind.split(":")[0], "Driver": "local", "Labels": {}, "Scope": "local",
                        "Mountpoint": "", "Options": {}, "CreatedAt": _now()})
                ident = uuid.uuid4().hex + uuid.uuid4().hex
                container = FakeContainer(ident, name, ref, spec, host_config, networks,
                                          health_script=list(engine.health.get(name, ["starting", "healthy"])))
                if spec.get("Healthcheck"):
                    container.health = "starting"
                engine.containers[ident] = container
            self._send(201, {"Id": ident, "Warnings": []})

        def _container(self, ident) -> FakeContainer | None:
            with engine.lock:
                container = engine.find_container(ident)
            if container is None:
                self._error(404, f"No such container: {ident}")
            return container

        def container_inspect(self, query, ident) -> None:
            if container := self._container(ident):
                with engine.lock:
                    engine.advance_health(container)
                    self._send(200, container.inspect())

        def container_archive(self, query, ident) -> None:
            body = self._body()
            if not (container := self._container(ident)):
                return
            try:
                with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                    files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
            except tarfile.TarError as exc:
                return self._error(400, f"archive is not a tar: {exc}")
            base = query.get("path", "/").rstrip("/")
            with engine.lock:
                container.files.update({f"{base}/{name}": data for name, data in files.items()})
            self._send(200)

        def container_start(self, query, ident) -> None:
            if not (container := self._container(ident)):
                return
            with engine.lock:
                if container.status == "running":
                    return self._send(304)
                bound = []
                for key, bindings in (container.host_config.get("PortBindings") or {}).items():
                    for binding in bindings or []:
                        sock = socket.socket()
                        try:
                            sock.bind((binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"])))
                            sock.listen()
                        except OSError:
                            sock.close()
                            for other in bound:
                                other.close()
                            return self._error(500, (
                                f"driver failed programming external connectivity on endpoint {container.name} "
                                f"({container.id[:12]}): Bind for {binding.get('HostIp')}:{binding['HostPort']} "
                                "failed: port is already allocated"))
                        bound.append(sock)
                container.sockets = bound
                container.status, container.started_at = "running", _now()
                container.log.append((1, f"{container.name}: started {container.image}\n".encode()))
            self._send(204)

        def container_stop(self, query, ident) -> None:
            if not (container := self._container(ident)):
                return
            with engine.lock:
                if container.status != "running":
                    return self._send(304)
                engine._release(container)
                container.status, container.exit_code = "exited", 143
                container.log.append((1, f"{container.name}: stopped\n".encode()))
            self._send(204)

        def container_remove(self, query, ident) -> None:
            if not (container := self._container(ident)):
                return
            with engine.lock:
                if container.status == "running" and query.get("force") not in ("1", "True", "true"):
                    return self._error(409, f"cannot remove container {container.name}: container is running: "
                                            "stop the container before removing or force remove")
                engine._release(container)
                del engine.containers[container.id]
            self._send(204)

        def container_logs(self, query, ident) -> None:
            if not (container := self._container(ident)):
                return
            with engine.lock:
                lines = container.log[-int(query["tail"]):] if query.get("tail", "all") != "all" else container.log
                body = b"".join(_frame(stream, data) for stream, data in lines)
            self._send(200, body, "application/vnd.docker.multiplexed-stream")

        # --- exec -----------------------------------------------------------------------------------------

        def exec_create(self, query, ident) -> None:
            spec = json.loads(self._body() or b"{}")
            if not (container := self._container(ident)):
                return
            if container.status != "running":
                return self._error(409, f"container {container.id} is not running")
            command = " ".join(spec.get("Cmd") or [])
            code, output = next(((c, o) for key, (c, o) in engine.exec_results.items() if key in command), (0, ""))
            exec_id = uuid.uuid4().hex * 2
            with engine.lock:
                engine.execs[exec_id] = {"ID": exec_id, "Running": False, "ExitCode": None, "Pid": 0,
                                         "ContainerID": container.id, "Cmd": spec.get("Cmd"),
                                         "_result": (code, output)}
            self._send(201, {"Id": exec_id})

        def exec_start(self, query, exec_id) -> None:
            self._body()
            with engine.lock:
                record = engine.execs.get(exec_id)
            if record is None:
                return self._error(404, f"No such exec instance: {exec_id}")
            code, output = record["_result"]
            # The engine hijacks the connection: 101, then raw frames until it closes.
            self.send_response(101, "UPGRADED")
            self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
            self.end_headers()
            self.wfile.flush()
            time.sleep(0.05)  # as a real process would: output follows the headers, not in the same packet
            if output:
                self.wfile.write(_frame(1 if code == 0 else 2, output.encode()))
            self.wfile.flush()
            with engine.lock:
                record["ExitCode"] = code
            self.close_connection = True

        def exec_inspect(self, query, exec_id) -> None:
            with engine.lock:
                record = engine.execs.get(exec_id)
            if record is None:
                return self._error(404, f"No such exec instance: {exec_id}")
            self._send(200, {k: v for k, v in record.items() if not k.startswith("_")})

    return Handler


ROUTES = [
    (("GET", r"/_ping"), "ping"), (("HEAD", r"/_ping"), "ping"), (("GET", r"/version"), "version"),
    (("GET", r"/images/(.+)/json"), "image_inspect"), (("POST", r"/images/create"), "image_create"),
    (("POST", r"/build"), "build"),
    (("GET", r"/networks"), "network_list"), (("POST", r"/networks/create"), "network_create"),
    (("GET", r"/networks/([^/]+)"), "network_inspect"), (("DELETE", r"/networks/([^/]+)"), "network_remove"),
    (("GET", r"/volumes"), "volume_list"), (("POST", r"/volumes/create"), "volume_create"),
    (("GET", r"/volumes/([^/]+)"), "volume_inspect"), (("DELETE", r"/volumes/([^/]+)"), "volume_remove"),
    (("GET", r"/containers/json"), "container_list"), (("POST", r"/containers/create"), "container_create"),
    (("GET", r"/containers/([^/]+)/json"), "container_inspect"),
    (("PUT", r"/containers/([^/]+)/archive"), "container_archive"),
    (("POST", r"/containers/([^/]+)/start"), "container_start"),
    (("POST", r"/containers/([^/]+)/stop"), "container_stop"),
    (("DELETE", r"/containers/([^/]+)"), "container_remove"),
    (("GET", r"/containers/([^/]+)/logs"), "container_logs"),
    (("POST", r"/containers/([^/]+)/exec"), "exec_create"), (("POST", r"/exec/([^/]+)/start"), "exec_start"),
    (("GET", r"/exec/([^/]+)/json"), "exec_inspect"),
]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, rest), with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += (" " if current else "") + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _check_dockerfile(steps, files: dict[str, bytes], buildargs: dict, engine: FakeDockerEngine):
    """What the classic builder would refuse: a missing base image or ``COPY`` source. Returns (step, message)."""
    args: dict[str, str] = {}
    stages: set[str] = set()

    def expand(text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), text)

    for number, (keyword, rest) in enumerate(steps, 1):
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = buildargs.get(name, default)
        elif keyword == "FROM":
            words = expand(rest).split()
            image = words[0]
            if not image:
                return number, "base name (${FLINK_IMAGE}) should not be blank"
            ref = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
            if ref not in stages and ref not in engine.images:
                return number, f"pull access denied for {image}: the fake engine only builds on pulled images"
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
        elif keyword == "COPY" and "--from=" not in rest:
            sources = expand(rest).split()[:-1]
            for source in sources:
                if not any(name == source or name.startswith(source.rstrip("/") + "/") for name in files):
                    return number, (f"COPY failed: file not found in build context or excluded by .dockerignore: "
                                    f"stat {source}: file does not exist")
        elif keyword == "COPY":
            stage = re.search(r"--from=(\S+)", rest).group(1)
            if stage not in stages:
                return number, f"invalid from flag value {stage}: no such stage"
    return None
