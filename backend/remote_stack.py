"""A stack the app did not start: a team's server or managed services, described by a named profile.

A :class:`RemoteProfile` says where each service is — Kafka's bootstrap servers and how to log in
(TLS with a CA file; SASL ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``), InfluxDB's URL and
bucket, the Iceberg catalog's URI and the S3 endpoint of its warehouse, Grafana's and Flink's URLs —
and holds no secret. Profiles live in the settings (``remote_profiles``); their secrets (Kafka's
password, InfluxDB's token, the catalog's password, the S3 secret key) in the OS keyring, or where
there is none in a private file (:class:`backend.secrets.SecretGroup`, one per profile).

:func:`connection` turns a profile and its secrets into the pipeline's
:class:`~backend.pipeline.runtime.StackConnection`, the same one the app's own stack produces, with
``create=False``: nothing is created on a stack the app did not start. By default a desktop only
reads (``run_sink`` off: the collector on the server runs the sinks, and a desktop's InfluxDB token
can be read-only).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backend.bus.security import MECHANISMS, PROTOCOLS, KafkaSecurity
from backend.secrets import SecretGroup
from backend.stores.catalog import sql_catalog_properties

#: The secrets a profile may have (all optional: an open InfluxDB needs no token).
SECRET_NAMES = ("kafka_password", "influx_token", "catalog_password", "s3_secret_key")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
_HOSTPORT_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


class ProfileError(ValueError):
    """A profile field is wrong; the message names the field and says why."""


class RemoteError(RuntimeError):
    """The remote stack refused a request or did not answer; the message says which and why."""


@dataclass(frozen=True)
class RemoteProfile:
    """Where a remote stack's services are (no secrets; see :data:`SECRET_NAMES`).

    Attributes:
        name: The profile's name (letters, digits, ``.``, ``_``, ``-``).
        kafka_bootstrap: ``host:port[,host:port…]`` of the brokers.
        kafka_protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        kafka_ca_file: PEM file of the CA that signed the brokers' certificates ('' = the system's CAs).
        kafka_mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` for the SASL protocols.
        kafka_username: The SASL user.
        influx_url: InfluxDB's HTTP API.
        influx_bucket: ``database/retention-policy`` (InfluxDB 1.8) or a bucket (2.x).
        influx_org: The InfluxDB 2 organisation ('' for 1.8).
        catalog_uri: The Iceberg SQL catalog, ``postgresql+psycopg2://user@host:port/db`` (no password).
        warehouse: The Iceberg warehouse, e.g. ``s3://warehouse/``.
        s3_endpoint: The warehouse's S3 API.
        s3_region: Region the S3 requests are signed for.
        s3_access_key: The S3 access key id (its secret key is a secret).
        grafana_url: Grafana's address ('' for none).
        flink_url: The Flink cluster's REST API ('' for none): the check says whether the jobs run.
        run_sink: Run the InfluxDB and archive sinks in this app (off: the server's collector runs them).
    """

    name: str
    kafka_bootstrap: str
    kafka_protocol: str = "PLAINTEXT"
    kafka_ca_file: str = ""
    kafka_mechanism: str = ""
    kafka_username: str = ""
    influx_url: str = ""
    influx_bucket: str = "tickerwire/autogen"
    influx_org: str = ""
    catalog_uri: str = ""
    warehouse: str = ""
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    grafana_url: str = ""
    flink_url: str = ""
    run_sink: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> "RemoteProfile":
        """A checked profile from its settings form.

        Raises:
            ProfileError: not a mapping, an unknown field, a value of the wrong type, or a problem
                :meth:`problems` names.
        """
        if not isinstance(data, dict):
            raise ProfileError("a remote profile must be an object of fields")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ProfileError(f"remote profile {data.get('name', '?')!r}: unknown field {unknown[0]!r}")
        for key, value in data.items():
            wanted = bool if key == "run_sink" else str
            if not isinstance(value, wanted):
                raise ProfileError(f"remote profile {data.get('name', '?')!r}: {key} must be a {wanted.__name__}")
        profile = cls(**{k: v.strip() if isinstance(v, str) else v for k, v in data.items()})
        problems = profile.problems()
        if problems:
            raise ProfileError(f"remote profile {profile.name!r}: {problems[0]}")
        return profile

    def to_dict(self) -> dict[str, Any]:
        """The settings form (only fields that differ from the defaults, plus the name and Kafka)."""
        defaults = {f.name: f.default for f in fields(self)}
        return {k: v for k, v in asdict(self).items()
                if k in ("name", "kafka_bootstrap") or v != defaults[k]}

    def problems(self) -> list[str]:
        """What is wrong with the profile's fields, each naming the field (empty when none)."""
        out = []
        if not _NAME_RE.match(self.name):
            out.append("name must be letters, digits, '.', '_' or '-' (at most 41 characters)")
        servers = [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]
        if not servers:
            out.append("kafka_bootstrap is empty: give host:port of one or more brokers")
        for server in servers:
            match = _HOSTPORT_RE.match(server)
            if not match or not 0 < int(match.group(2)) < 65536:
                out.append(f"kafka_bootstrap: {server!r} is not host:port")
        if self.kafka_protocol not in PROTOCOLS:
            out.append(f"kafka_protocol must be one of {', '.join(PROTOCOLS)}")
        elif self.kafka_protocol.startswith("SASL_"):
            if self.kafka_mechanism not in MECHANISMS:
                out.append(f"kafka_mechanism must be one of {', '.join(MECHANISMS)} for {self.kafka_protocol}")
            if not self.kafka_username:
                out.append(f"kafka_username is empty ({self.kafka_protocol} logs in)")
        elif self.kafka_mechanism or self.kafka_username:
            out.append(f"kafka_mechanism and kafka_username need a SASL protocol, not {self.kafka_protocol}")
        if self.kafka_ca_file:
            if self.kafka_protocol not in ("SSL", "SASL_SSL"):
                out.append(f"kafka_ca_file needs a TLS protocol (SSL or SASL_SSL), not {self.kafka_protocol}")
            elif not Path(self.kafka_ca_file).expanduser().is_file():
                out.append(f"kafka_ca_file: {self.kafka_ca_file} does not exist")
        for label in ("influx_url", "s3_endpoint", "grafana_url", "flink_url"):
            value = getattr(self, label)
            if value and not _http_url(value):
                out.append(f"{label}: {value!r} is not an http:// or https:// URL")
        if not self.influx_url:
            out.append("influx_url is empty: the app reads history from InfluxDB")
        if self.catalog_uri:
            parts = urlsplit(self.catalog_uri)
            if not parts.scheme.startswith("postgresql") or not parts.hostname:
                out.append("catalog_uri must be postgresql+psycopg2://user@host:port/database")
            elif parts.password:
                out.append("catalog_uri must not hold the password: save it as the catalog password")
            if not self.warehouse or not self.s3_endpoint:
                out.append("an Iceberg catalog needs its warehouse (s3://bucket/) and its S3 endpoint")
        return out

    @property
    def kafka_ca_path(self) -> str:
        return str(Path(self.kafka_ca_file).expanduser()) if self.kafka_ca_file else ""


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class RemoteSecrets:
    """A profile's secrets; ``repr`` shows none of them."""

    kafka_password: str = field(default="", repr=False)
    influx_token: str = field(default="", repr=False)
    catalog_password: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)

    def as_dict(self) -> dict[str, str]:
        """Name -> value (never log it)."""
        return {name: getattr(self, name) for name in SECRET_NAMES}


def secret_store(profile_name: str, home: Path | None = None) -> SecretGroup:
    """Where a profile's secrets are kept: keyring entries ``remote/<name>/…``, else a private file."""
    from backend.settings import tickerwire_home

    file = (home or tickerwire_home()) / "remote" / f"{profile_name}.secrets.json"
    return SecretGroup(f"remote/{profile_name}", SECRET_NAMES, file, "the remote profile's secrets file")


def load_secrets(profile_name: str, home: Path | None = None) -> RemoteSecrets:
    """A profile's stored secrets (empty where none is stored).

    Raises:
        NoKeyringError: the keyring or the secrets file cannot be read.
    """
    return RemoteSecrets(**secret_store(profile_name, home).load())


def kafka_security(profile: RemoteProfile, secrets: RemoteSecrets) -> KafkaSecurity:
    """How the profile's Kafka clients log in."""
    return KafkaSecurity(profile.kafka_protocol, profile.kafka_ca_path, profile.kafka_mechanism,
                         profile.kafka_username, secrets.kafka_password)


def archive_properties(profile: RemoteProfile, secrets: RemoteSecrets) -> dict[str, str]:
    """pyiceberg catalog properties of the profile's archive ({} without a catalog). Holds secrets."""
    if not profile.catalog_uri:
        return {}
    return sql_catalog_properties(profile.catalog_uri, secrets.catalog_password, profile.warehouse,
                                  profile.s3_endpoint, profile.s3_region, profile.s3_access_key,
                                  secrets.s3_secret_key)


def connection(profile: RemoteProfile, secrets: RemoteSecrets, *, run_sink: bool | None = None):
    """The pipeline's :class:`~backend.pipeline.runtime.StackConnection` to the profile's stack.

    Args:
        run_sink: Override the profile's ``run_sink`` (the collector service runs the sinks).
    """
    from backend.pipeline.runtime import StackConnection

    where = f"{profile.catalog_uri} + {profile.warehouse} on {profile.s3_endpoint}" if profile.catalog_uri else ""
    return StackConnection(
        profile.kafka_bootstrap, profile.influx_url, profile.influx_bucket, influx_org=profile.influx_org,
        influx_token=secrets.influx_token, archive=archive_properties(profile, secrets), archive_where=where,
        run_sink=profile.run_sink if run_sink is None else run_sink,
        kafka_security=kafka_security(profile, secrets), create=False)


def create_topics(profile: RemoteProfile, secrets: RemoteSecrets, partitions: int = 3,
                  replication: int = 3) -> list[str]:
    """Create the pipeline's missing topics on the profile's Kafka — only ever when a person asks
    (``tickerwire stack create-topics``); return the names created.

    Raises:
        RemoteError: the cluster did not answer or refused a topic.
    """
    from backend.bus.kafka import BusError, default_topics, ensure_topics

    try:
        return ensure_topics(profile.kafka_bootstrap, default_topics(partitions=partitions), replication=replication,
                             security=kafka_security(profile, secrets))
    except BusError as exc:
        raise RemoteError(str(exc)) from exc


def validate_profiles(value: Any) -> list[dict[str, Any]]:
    """The ``remote_profiles`` setting checked: a list of profiles with distinct names, in settings form.

    Raises:
        ProfileError: the first problem, naming the profile and the field.
    """
    if not isinstance(value, (list, tuple)):
        raise ProfileError("remote_profiles must be a list of profiles")
    out, seen = [], set()
    for item in value:
        profile = item if isinstance(item, RemoteProfile) else RemoteProfile.from_dict(item)
        if profile.name in seen:
            raise ProfileError(f"two remote profiles are called {profile.name!r}")
        seen.add(profile.name)
        out.append(profile.to_dict())
    return out


def profiles(settings) -> list[RemoteProfile]:
    """The settings' remote profiles."""
    return [RemoteProfile.from_dict(item) for item in settings.get("remote_profiles")]


def find(settings, name: str) -> RemoteProfile:
    """The profile called ``name``.

    Raises:
        ProfileError: there is none (the message lists the ones there are).
    """
    for profile in profiles(settings):
        if profile.name == name:
            return profile
    known = ", ".join(p.name for p in profiles(settings)) or "none yet"
    raise ProfileError(f"no remote profile {name!r} (profiles: {known}); add one with "
                       f"`tickerwire stack profile set {name} --kafka-bootstrap HOST:PORT …` or in the Stack tab")


def save(settings, profile: RemoteProfile) -> None:
    """Add or replace a profile in the settings (checked first)."""
    problems = profile.problems()
    if problems:
        raise ProfileError(f"remote profile {profile.name!r}: {problems[0]}")
    others = [p for p in settings.get("remote_profiles") if p.get("name") != profile.name]
    settings.set("remote_profiles", [*others, profile.to_dict()])


def remove(settings, name: str) -> None:
    """Delete a profile from the settings (and stop using it); its secrets go with :func:`forget_secrets`."""
    settings.set("remote_profiles", [p for p in settings.get("remote_profiles") if p.get("name") != name])
    if settings.get("stack_profile") == name:
        settings.set("stack_profile", "")


def forget_secrets(name: str, home: Path | None = None) -> None:
    """Delete a profile's secrets from the keyring (or its file); the keyring may wait for its daemon."""
    secret_store(name, home).forget()
