"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from Maven jars.

``prepare(cache)`` resolves ``org.apache.kafka:kafka_2.13`` and its runtime
dependencies with Maven into the cache. :class:`KafkaBroker` formats a data
directory, starts the broker bound to 127.0.0.1 on free ports, waits until an
admin client can list topics, and stops it (SIGTERM, then SIGKILL after a
timeout). It can also be killed with SIGKILL and restarted on the same data
directory and ports, which the crash-recovery test relies on.

Given a :class:`BrokerTls`, the broker also listens for ``SASL_SSL`` clients — TLS with the given
certificate, and ``PLAIN``, ``SCRAM-SHA-256`` and ``SCRAM-SHA-512`` logins, as a managed Kafka
service takes them — on ``localhost`` (:attr:`KafkaBroker.secure_bootstrap_servers`). SCRAM users
are added the way an operator adds them, through the admin API (:meth:`KafkaBroker.add_scram_user`).
Failed logins are logged (``Failed authentication with …``), so a test can count a client's attempts.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from backend.bus.topics import TopicSpec
from stack.local import PrepareMissing, cache_dir, free_ports, prepare_hint
from stack.local.maven import MARKER, resolve
from stack.versions import KAFKA_ARTIFACTS, KAFKA_VERSION

#: Kafka's server plus an SLF4J binding so the broker logs through log4j2.
ARTIFACTS = list(KAFKA_ARTIFACTS)
LOG4J2_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.selector.name = org.apache.kafka.common.network.Selector
logger.selector.level = {selector_level}
"""


@dataclass(frozen=True)
class BrokerTls:
    """A ``SASL_SSL`` listener: the broker's TLS certificate and key, and its ``PLAIN`` users.

    Attributes:
        certificate: PEM file of the broker's certificate (and chain) for ``localhost``.
        key: PEM file of its private key (PKCS#8, unencrypted).
        plain_users: User name -> password of the ``PLAIN`` logins (SCRAM users: :meth:`KafkaBroker.add_scram_user`).
    """

    certificate: Path
    key: Path
    plain_users: Mapping[str, str] = field(default_factory=dict)


class BrokerError(RuntimeError):
    """The broker could not be started, did not become ready, or died."""


def lib_dir(cache: Path | None = None) -> Path:
    """Directory holding the broker's jars."""
    return (cache or cache_dir()) / "kafka" / KAFKA_VERSION / "lib"


def prepare(cache: Path) -> Path:
    """Resolve the broker jars into the cache (idempotent) and return their directory."""
    lib = lib_dir(cache)
    resolve(ARTIFACTS, lib, transitive=True)
    return lib


def classpath(cache: Path | None = None) -> str:
    """The broker's Java classpath.

    Raises:
        PrepareMissing: the jars were not prepared; the message names the command.
    """
    lib = lib_dir(cache)
    if not (lib / MARKER).is_file():
        raise PrepareMissing(f"Kafka {KAFKA_VERSION} jars are missing in {lib}: run `{prepare_hint('kafka')}`")
    return os.pathsep.join(str(jar) for jar in sorted(lib.glob("*.jar")))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH; Kafka needs Java 17 or newer (apt-get install openjdk-17-jre-headless)")
    return java


def new_cluster_id() -> str:
    """A random cluster id, as Kafka's ``Uuid.randomUuid`` makes them: URL-safe base64 of 16 bytes that
    does not start with ``-`` (the storage tool would take it for an option; 1 in 64 ids otherwise)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()).startswith("-"):
        pass
    return cluster_id


class KafkaBroker:
    """One KRaft broker process on 127.0.0.1 with its data in ``data_dir``.

    Args:
        data_dir: Holds ``server.properties``, the log directory and ``broker.log``.
        cache: Artefact cache (default :func:`stack.local.cache_dir`).
        heap: JVM heap size, e.g. ``"512m"``.
        log_level: log4j2 level for the broker's own log.
        tls: Add a ``SASL_SSL`` listener with this certificate and these users.
    """

    def __init__(self, data_dir: Path, *, cache: Path | None = None, heap: str = "512m",
                 log_level: str = "WARN", tls: BrokerTls | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._classpath = classpath(cache)
        self.heap = heap
        self.log_level = log_level
        self.tls = tls
        self.port = 0
        self.controller_port = 0
        self.secure_port = 0
        self._process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap_servers(self) -> str:
        """``host:port`` of the ``SASL_SSL`` listener (the name its certificate carries)."""
        return f"localhost:{self.secure_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The process id while it runs (the leader of its own session: its children share the session)."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        logs = self.data_dir / "kraft-logs"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.flush.interval.ms": "1000",
        }
        if self.tls is not None:
            props.update(self._tls_properties())
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_CONFIG.format(
            level=self.log_level, selector_level="INFO" if self.tls else self.log_level))
        return config

    def _tls_properties(self) -> dict[str, str]:
        """The ``SASL_SSL`` listener on localhost: TLS from a PEM key store, PLAIN and SCRAM logins."""
        keystore = self.data_dir / "broker-keystore.pem"  # key and certificate chain in one PEM file
        keystore.write_text(self.tls.key.read_text() + self.tls.certificate.read_text())
        keystore.chmod(0o600)
        users = " ".join(f'user_{name}="{password}"' for name, password in self.tls.plain_users.items())
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.secure_port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://localhost:{self.secure_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
        }

    def add_scram_user(self, name: str, password: str, mechanism: str = "SCRAM-SHA-256") -> None:
        """Create (or change) a SCRAM login through the admin API on the plaintext loopback listener.

        Raises:
            BrokerError: the broker refused it.
        """
        from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        kind = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256, "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}[mechanism]
        upsert = UserScramCredentialUpsertion(name, ScramCredentialInfo(kind, 8192), password.encode())
        for future in admin.alter_user_scram_credentials([upsert]).values():
            try:
                future.result(30)
            except Exception as exc:  # KafkaException
                raise BrokerError(f"cannot add the SCRAM user {name}: {exc}") from exc

    def failed_logins(self) -> int:
        """How many failed authentications (SASL or TLS) the broker has logged."""
        try:
            return self.log_path.read_text(errors="replace").count("Failed authentication with")
        except OSError:
            return 0

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            _java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp", self._classpath, main_class, *args,
        ]

    def _format(self, config: Path) -> None:
        cluster_id = new_cluster_id()
        command = self._java_command("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config))
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    def start(self, timeout: float = 90.0) -> None:
        """Format (first time only), start the broker and wait until it serves metadata.

        Restarting after :meth:`stop` or :meth:`kill` reuses the data directory and ports.

        Raises:
            BrokerError: the process died or was not ready within ``timeout`` seconds.
        """
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        first_start = self.port == 0
        if first_start:
            self.port, self.controller_port, secure_port = free_ports(3)
            self.secure_port = secure_port if self.tls is not None else 0
        config = self._write_config()
        if not (self.data_dir / "kraft-logs" / "meta.properties").exists():
            self._format(config)
        self._log_file = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            self._java_command("kafka.Kafka", str(config)),
            stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Block until an admin client lists topics through the broker.

        Raises:
            BrokerError: the process exited or the deadline passed (with the log's tail).
        """
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "socket.timeout.ms": 2000,
                             "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise BrokerError(f"Kafka exited with {self._process.returncode}:\n{self._log_tail()}")
            try:
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except Exception:  # KafkaException while the broker boots
                pass
            time.sleep(0.2)
        raise BrokerError(f"Kafka was not ready after {timeout:.0f}s:\n{self._log_tail()}")

    def create_topics(self, specs: Sequence[TopicSpec], timeout: float = 30.0) -> None:
        """Create the topics of ``specs`` that do not exist yet (partitions, retention, clean-up policy).

        Raises:
            BrokerError: the broker refused a topic.
        """
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        existing = set(admin.list_topics(timeout=timeout).topics)
        missing = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config())
                   for s in specs if s.name not in existing]
        for name, future in (admin.create_topics(missing, operation_timeout=timeout).items() if missing else ()):
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"cannot create topic {name}: {exc}") from exc

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly with SIGTERM; SIGKILL if it has not exited after ``timeout`` seconds."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close()

    def kill(self) -> None:
        """Kill the broker with SIGKILL (a crash); :meth:`start` brings it back on the same data."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
        self._close()

    def _close(self) -> None:
        self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "KafkaBroker":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
