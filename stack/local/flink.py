"""Run the PyFlink candle job on a local Flink mini-cluster, without Docker.

``prepare(cache)`` builds what the job needs, idempotently:

* a virtualenv ``<cache>/flink-venv`` with ``resources/flink/requirements.txt``
  (apache-flink pins old pyarrow/pandas/apache-beam, so it never shares the app's venv);
* the ``flink-sql-connector-kafka`` jar matching the Flink version, from Maven Central;
* the job's small Java functions (``resources/flink/udf``), compiled with ``javac``
  against the Flink jars of that venv;
* Beam's gRPC server factory for the Python workers, bound to loopback (``resources/flink/loopback``),
  compiled into the venv's Flink ``lib/``.

A job's mini-cluster listens on 127.0.0.1 only, without jar upload or cancellation over REST.

:class:`FlinkJob` starts ``resources/flink/candles_job.py`` (or ``impact_job.py``) in that
venv as its own process group and stops it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from stack.local import PrepareMissing, cache_dir, prepare_hint
from stack.local.maven import MARKER, resolve
from stack.versions import FLINK_VERSION, KAFKA_CONNECTOR

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_DIR = REPO_ROOT / "resources" / "flink"
JOB_SCRIPT = JOB_DIR / "candles_job.py"
IMPACT_JOB_SCRIPT = JOB_DIR / "impact_job.py"
REQUIREMENTS = JOB_DIR / "requirements.txt"
UDF_SOURCES = JOB_DIR / "udf"
#: Beam's gRPC server factory bound to loopback (see the source); its jar goes into the venv's Flink lib/.
LOOPBACK_SOURCE = JOB_DIR / "loopback" / "ServerFactory.java"
LOOPBACK_JAR = "beam-fn-loopback.jar"
LOOPBACK_CLASS = "org/apache/beam/sdk/fn/server/ServerFactory$InetSocketAddressServerFactory.class"
VENV_MARKER = ".tickerwire-requirements"


class FlinkError(RuntimeError):
    """The Flink environment could not be built, or the job failed to start or died."""


@dataclass(frozen=True)
class FlinkArtefacts:
    """Paths the job needs: the venv's python, the connector jar and the UDF jar."""

    python: Path
    jars: tuple[Path, ...]


def venv_dir(cache: Path) -> Path:
    return cache / "flink-venv"


def _udf_digest() -> str:
    digest = hashlib.sha256(FLINK_VERSION.encode())
    for source in sorted(UDF_SOURCES.rglob("*.java")):
        digest.update(source.relative_to(UDF_SOURCES).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _udf_jar(cache: Path) -> Path:
    return cache / "flink" / "udf" / f"tickerwire-flink-udf-{_udf_digest()}.jar"


def _venv_python(cache: Path) -> Path:
    return venv_dir(cache) / "bin" / "python"


def _connector_dir(cache: Path) -> Path:
    return cache / "flink" / "connector"


def _prepare_venv(cache: Path) -> Path:
    venv = venv_dir(cache)
    wanted = REQUIREMENTS.read_text()
    marker = venv / VENV_MARKER
    if marker.is_file() and marker.read_text() == wanted and _venv_python(cache).exists():
        return _venv_python(cache)
    if venv.exists():
        shutil.rmtree(venv)
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(venv)], "creating the Flink venv")
    _run([str(_venv_python(cache)), "-m", "pip", "install", "--disable-pip-version-check", "-q",
          "-r", str(REQUIREMENTS)], "installing apache-flink into the Flink venv")
    marker.write_text(wanted)
    return _venv_python(cache)


def _pyflink_lib(python: Path) -> Path:
    result = subprocess.run([str(python), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise FlinkError(f"pyflink is not importable in {python}: {result.stderr.strip()}")
    return Path(result.stdout.strip()) / "lib"


def _prepare_udf(cache: Path, python: Path) -> Path:
    jar = _udf_jar(cache)
    if jar.is_file():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        raise FlinkError("javac is not on PATH; the job's functions need a JDK 17 (apt-get install openjdk-17-jdk-headless)")
    lib = _pyflink_lib(python)
    classpath = os.pathsep.join(str(p) for p in sorted(lib.glob("flink-*.jar")))
    with tempfile.TemporaryDirectory() as build:
        sources = [str(p) for p in sorted(UDF_SOURCES.rglob("*.java"))]
        _run([javac, "--release", "17", "-d", build, "-cp", classpath, *sources], "compiling the job's Java functions")
        jar.parent.mkdir(parents=True, exist_ok=True)
        partial = jar.with_suffix(".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for path in sorted(Path(build).rglob("*.class")):
                archive.write(path, path.relative_to(build).as_posix())
        partial.rename(jar)
    return jar


def _loopback_jar(python: Path) -> Path:
    return _pyflink_lib(python) / LOOPBACK_JAR


def _prepare_loopback(python: Path) -> Path:
    """Compile the loopback server factory into the venv's Flink lib/ (ahead of flink-python, which opt/ holds)."""
    jar = _loopback_jar(python)
    digest = hashlib.sha256(LOOPBACK_SOURCE.read_bytes()).hexdigest()[:16]
    marker = jar.with_suffix(".digest")
    if jar.is_file() and marker.is_file() and marker.read_text() == digest:
        return jar
    javac = shutil.which("javac")
    if javac is None:
        raise FlinkError("javac is not on PATH; the job's functions need a JDK 17 (apt-get install openjdk-17-jdk-headless)")
    classpath = os.pathsep.join(str(p) for p in sorted((jar.parent.parent / "opt").glob("flink-python-*.jar")))
    with tempfile.TemporaryDirectory() as build:
        _run([javac, "--release", "17", "-d", build, "-cp", classpath, str(LOOPBACK_SOURCE)],
             "compiling the loopback server factory")
        partial = jar.with_suffix(".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            archive.write(Path(build) / LOOPBACK_CLASS, LOOPBACK_CLASS)
        partial.rename(jar)
    marker.write_text(digest)
    return jar


def prepare(cache: Path) -> Path:
    """Build the Flink venv, fetch the Kafka connector jar, compile the UDF jar and the loopback server
    factory; return the venv."""
    python = _prepare_venv(cache)
    resolve([KAFKA_CONNECTOR], _connector_dir(cache), transitive=False)
    _prepare_udf(cache, python)
    _prepare_loopback(python)
    return venv_dir(cache)


def artefacts(cache: Path | None = None) -> FlinkArtefacts:
    """Locate the prepared artefacts.

    Raises:
        PrepareMissing: something is missing; the message names the prepare command.
    """
    cache = cache or cache_dir()
    python = _venv_python(cache)
    missing = []
    if not (venv_dir(cache) / VENV_MARKER).is_file() or not python.exists():
        missing.append(f"Flink venv {venv_dir(cache)}")
    connector = _connector_dir(cache)
    if not (connector / MARKER).is_file():
        missing.append(f"Kafka connector jar in {connector}")
    udf = _udf_jar(cache)
    if not udf.is_file():
        missing.append(f"job functions jar {udf}")
    loopback = venv_dir(cache) / "lib"
    if not any(loopback.glob(f"python3*/site-packages/pyflink/lib/{LOOPBACK_JAR}")):
        missing.append(f"{LOOPBACK_JAR} in the Flink venv")
    if missing:
        raise PrepareMissing(f"{', '.join(missing)} missing: run `{prepare_hint('flink')}`")
    return FlinkArtefacts(python, (*sorted(connector.glob("*.jar")), udf))


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise FlinkError(f"{what} failed (exit {result.returncode}):\n{tail}")


@dataclass
class FlinkJob:
    """A job as a local process (a PyFlink mini-cluster in its own process group): the candle job by default.

    Args:
        bootstrap_servers: Kafka bootstrap address.
        log_path: File that receives the job's stdout/stderr.
        options: Extra ``--name value`` arguments for the script (e.g. topics, parallelism).
        cache: Artefact cache (default :func:`stack.local.cache_dir`).
        script: The job (:data:`JOB_SCRIPT`, or :data:`IMPACT_JOB_SCRIPT`); each script gets its own
            checkpoint and Flink log directories next to the log.
    """

    bootstrap_servers: str
    log_path: Path
    options: dict[str, str] = field(default_factory=dict)
    cache: Path | None = None
    script: Path = JOB_SCRIPT
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def command(self) -> list[str]:
        found = artefacts(self.cache)
        args = [str(found.python), str(self.script), "--bootstrap-servers", self.bootstrap_servers,
                "--jars", ";".join(p.as_uri() for p in found.jars), "--checkpoint-dir", str(self.checkpoint_dir)]
        for name, value in self.options.items():
            args += [f"--{name}", str(value)]
        return args

    @property
    def pid(self) -> int | None:
        """The process id while it runs (the leader of its own session: its children share the session)."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def checkpoint_dir(self) -> Path:
        """Checkpoints, next to the log."""
        return self.log_path.parent / f"checkpoints{self._suffix}"

    @property
    def flink_log_dir(self) -> Path:
        """The mini-cluster's own log files (exceptions, restarts), next to the job's output."""
        return self.log_path.parent / f"flink-logs{self._suffix}"

    @property
    def _suffix(self) -> str:
        return "" if self.script == JOB_SCRIPT else f"-{self.script.stem}"

    def start(self, timeout: float = 120.0) -> None:
        """Start the job and wait until it reports that it was submitted to the mini-cluster.

        Raises:
            FlinkError: the process exited or did not report within ``timeout`` seconds.
        """
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.flink_log_dir.mkdir(parents=True, exist_ok=True)
        # The job's mini-cluster listens on loopback only, without jar upload or cancellation (job_options.py).
        # Python workers run as processes of the mini-cluster (process mode), not behind a gRPC server in this
        # client that PyFlink binds to every interface (its "loopback" mode); they import the app's backend
        # package from the repository, as the job's client does.
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "FLINK_LOG_DIR": str(self.flink_log_dir), "TICKERWIRE_FLINK_LOCAL_CLUSTER": "1",
               "_python_worker_execution_mode": "process", "PYTHONPATH": pythonpath}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                             stdin=subprocess.DEVNULL, start_new_session=True, cwd=JOB_DIR)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise FlinkError(f"the Flink job exited with {self._process.returncode}:\n{self.log_tail()}")
            if "TICKERWIRE JOB RUNNING" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise FlinkError(f"the Flink job did not start within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of the job's output and of the mini-cluster's log, for failure messages."""
        parts = []
        for path in [self.log_path, *sorted(self.flink_log_dir.glob("*.log"))]:
            try:
                text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                continue
            parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(no job log)"

    def restarts(self) -> int:
        """How many times the mini-cluster restarted the job after a failure (from its log)."""
        count = 0
        for path in self.flink_log_dir.glob("*.log"):
            count += path.read_text(errors="replace").count("switched from state RUNNING to RESTARTING")
        return count

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the job's process group; SIGKILL it if it is still there after ``timeout`` seconds."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait()
        self._signal_group(signal.SIGKILL)  # the gateway JVM may outlive its python parent
        self._process = None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self._process.pid, sig)
        except ProcessLookupError:
            pass
