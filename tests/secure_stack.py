"""Fixtures of a secured shared stack, as a team's server or a managed service runs it: real servers, no fakes.

* ``secure_kafka``: the local KRaft broker (Kafka's jars) with a ``SASL_SSL`` listener whose certificate a CA
  made by the test signed (:mod:`tls`), a SCRAM-SHA-256 user, and the pipeline's topics.
* ``secured_influx``: a real ``influxd`` with authentication on, one database, a read-only login for the
  desks and a write login for the collector's sink.
* :func:`save_profile`: a remote profile for them in the test's ``TICKERWIRE_HOME`` (secrets in the keyring
  or its file fallback, as the app keeps them).

Missing jars or binaries FAIL the tests with the prepare command; they are never skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from stack.local import PrepareMissing
from tls import TestPki, make_pki

USER, PASSWORD, MECHANISM = "desk", "s3cret-scram-pw", "SCRAM-SHA-256"
DATABASE = "tickerwire"


@dataclass
class SecureKafka:
    """The secured broker, its certificates and its SCRAM login."""

    broker: object  # stack.local.kafka.KafkaBroker
    pki: TestPki

    @property
    def bootstrap(self) -> str:
        return self.broker.secure_bootstrap_servers

    def security(self, password: str = PASSWORD, ca: Path | None = None):
        from backend.bus.security import KafkaSecurity

        return KafkaSecurity("SASL_SSL", str(ca or self.pki.ca), MECHANISM, USER, password)


@dataclass
class SecuredInflux:
    """An influxd with authentication on; ``read_token`` may only read, ``write_token`` may also write."""

    server: object  # stack.local.influxdb.InfluxServer
    read_token: str
    write_token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def bucket(self) -> str:
        return f"{DATABASE}/autogen"


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory) -> Iterator[SecureKafka]:
    """A real broker with a SASL_SSL listener (TLS from the test's CA, SCRAM logins) and the pipeline's topics."""
    from backend.bus.kafka import default_topics, ensure_topics
    from stack.local.kafka import BrokerTls, KafkaBroker

    pki = make_pki(tmp_path_factory.mktemp("pki"))
    try:
        broker = KafkaBroker(tmp_path_factory.mktemp("secure-kafka"),
                             tls=BrokerTls(pki.certificate, pki.key, {"admin": "admin-pw"}))
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    broker.start()
    try:
        broker.add_scram_user(USER, PASSWORD, MECHANISM)
        ensure_topics(broker.bootstrap_servers, default_topics(partitions=1))
        yield SecureKafka(broker, pki)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def secured_influx() -> Iterator[SecuredInflux]:
    """A real influxd with authentication on: an admin, a database, a read-only and a write login."""
    from stack.local.influxdb import InfluxServer, require_binary

    try:
        binary = require_binary()
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server = InfluxServer(binary, auth=True).start()
    try:
        server.add_user("admin", "admin-pw", admin=True)
        server.influxql(f'CREATE DATABASE "{DATABASE}"')
        read = server.add_user("reader", "read-pw", database=DATABASE, privilege="READ")
        write = server.add_user("collector", "write-pw", database=DATABASE, privilege="ALL")
        yield SecuredInflux(server, read, write)
    finally:
        server.stop()


def save_profile(kafka: SecureKafka, influx: SecuredInflux, *, name: str = "", password: str = PASSWORD,
                 ca: Path | None = None, influx_token: str = "", run_sink: bool = False):
    """Save a remote profile of the secured stack (and its secrets) in the test's home; return it."""
    from backend import remote_stack
    from backend.settings import Settings, tickerwire_home

    profile = remote_stack.RemoteProfile(
        name or f"team-{uuid.uuid4().hex[:6]}", kafka.bootstrap, "SASL_SSL", str(ca or kafka.pki.ca), MECHANISM, USER,
        influx_url=influx.url, influx_bucket=influx.bucket, run_sink=run_sink)
    settings = Settings(tickerwire_home() / "settings.json")
    remote_stack.save(settings, profile)
    remote_stack.secret_store(profile.name).save({"kafka_password": password,
                                                  "influx_token": influx_token or influx.read_token})
    return profile
