""""Test connection": each endpoint of a remote stack, checked once, and what failed in plain words.

:func:`check_profile` runs one check per endpoint of a :class:`~backend.remote_stack.RemoteProfile`
and returns a :class:`Finding` for each: Kafka (name resolution, TCP, TLS, the SASL login, the
topics the pipeline needs, the record schema version of each topic's newest record), InfluxDB
(``/ping``, the token, the database or bucket), the Iceberg catalog (PostgreSQL: login, database,
its tables), the warehouse bucket (a signed S3 request), Grafana (``/api/health``) and Flink (the
TaskManagers and whether both jobs run). A failure's :attr:`Finding.problem` is one of
:data:`PROBLEMS` and its message names the endpoint and what to do.

Each check tries once (Kafka's: :func:`backend.bus.preflight.kafka_preflight`, given up at the first
connection error, so a wrong password costs the broker one or two failed logins, not a storm).
Nothing is created or written anywhere.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Callable
from urllib.parse import quote, urlsplit

from backend.bus.preflight import TIMEOUT_S, KafkaProblem, kafka_preflight
from backend.bus.security import KafkaSecurity
from backend.remote_stack import RemoteProfile, RemoteSecrets, kafka_security

#: What can be wrong, as :attr:`Finding.problem` names it.
PROBLEMS = ("settings", "dns", "refused", "timeout", "tls", "authentication", "permission", "missing", "schema",
            "error")
#: The Flink jobs the stack runs.
JOBS = ("tickerwire-candles", "tickerwire-impacts")


@dataclass(frozen=True)
class Finding:
    """The outcome of one endpoint's check.

    Attributes:
        endpoint: ``Kafka``, ``InfluxDB``, ``Iceberg catalog``, ``S3 warehouse``, ``Grafana`` or ``Flink``.
        ok: The endpoint is usable.
        problem: '' when ok, else one of :data:`PROBLEMS`.
        message: What was found or what failed, in plain words (no secret).
    """

    endpoint: str
    ok: bool
    message: str
    problem: str = ""

    @property
    def line(self) -> str:
        """One line for a terminal or a list."""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.endpoint}: {self.message}"


class _Failed(Exception):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def check_profile(profile: RemoteProfile, secrets: RemoteSecrets, timeout_s: float = TIMEOUT_S) -> list[Finding]:
    """Check every endpoint the profile names (Kafka and InfluxDB always)."""
    findings = [check_kafka(profile.kafka_bootstrap, kafka_security(profile, secrets), timeout_s=timeout_s),
                check_influx(profile.influx_url, secrets.influx_token, profile.influx_bucket, profile.influx_org,
                             timeout_s=timeout_s)]
    if profile.catalog_uri:
        findings.append(check_catalog(profile.catalog_uri, secrets.catalog_password, timeout_s=timeout_s))
        findings.append(check_warehouse(profile.s3_endpoint, profile.warehouse, profile.s3_region,
                                        profile.s3_access_key, secrets.s3_secret_key, timeout_s=timeout_s))
    if profile.grafana_url:
        findings.append(check_grafana(profile.grafana_url, timeout_s=timeout_s))
    if profile.flink_url:
        findings.append(check_flink(profile.flink_url, timeout_s=timeout_s))
    return findings


def _guarded(endpoint: str, check: Callable[[], str]) -> Finding:
    try:
        return Finding(endpoint, True, check())
    except _Failed as failed:
        return Finding(endpoint, False, failed.message, failed.problem)


# --- Kafka ------------------------------------------------------------------------------------------------------------


def check_kafka(bootstrap: str, security: KafkaSecurity, topics: tuple[str, ...] | None = None,
                timeout_s: float = TIMEOUT_S) -> Finding:
    """Connect once, log in, list the topics, read each topic's newest record's schema version
    (:func:`backend.bus.preflight.kafka_preflight`, which a pipeline on a remote stack runs too)."""
    def kafka() -> str:
        try:
            return kafka_preflight(bootstrap, security, topics, timeout_s)
        except KafkaProblem as problem:
            raise _Failed(problem.problem, problem.message) from problem

    return _guarded("Kafka", kafka)


# --- HTTP endpoints ---------------------------------------------------------------------------------------------------


def _http(url: str, headers: dict[str, str] | None = None, timeout_s: float = TIMEOUT_S,
          request: urllib.request.Request | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request; connection failures become a :class:`_Failed` in words."""
    host = urlsplit(url).hostname or url
    try:
        with urllib.request.urlopen(request or urllib.request.Request(url, headers=headers or {}),
                                    timeout=timeout_s) as response:
            return response.status, dict(response.headers), response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read(65536) if exc.fp else b""
    except urllib.error.URLError as exc:
        raise _Failed(*_connection_problem(exc.reason, host, url)) from exc
    except (OSError, ssl.SSLError) as exc:
        raise _Failed(*_connection_problem(exc, host, url)) from exc


def _connection_problem(reason, host: str, url: str) -> tuple[str, str]:
    if isinstance(reason, socket.gaierror):
        return "dns", f"the name {host} is not found (DNS): check the URL {url}"
    if isinstance(reason, ssl.SSLCertVerificationError):
        why = reason.verify_message or str(reason)
        if "hostname" in why.lower():
            return "tls", f"the TLS certificate of {host} is not for that name ({why})"
        return "tls", f"the TLS certificate of {host} is not trusted ({why}): this machine needs the CA that signed it"
    if isinstance(reason, ssl.SSLError):
        return "tls", f"TLS with {host} failed ({reason.reason or reason}): is it http:// rather than https://?"
    if isinstance(reason, ConnectionRefusedError):
        return "refused", f"nothing answers at {url} (connection refused): is the service running, the port right?"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timeout", f"{url} does not answer (timed out): a firewall, or the wrong address?"
    return "error", f"cannot reach {url}: {reason}"


def check_influx(url: str, token: str, bucket: str, org: str = "", timeout_s: float = TIMEOUT_S) -> Finding:
    """``/ping``, then a read of the bucket with the token (InfluxDB 1.8: the database and retention policy)."""
    return _guarded("InfluxDB", lambda: _influx(url.rstrip("/"), token, bucket, org, timeout_s))


def _influx(url: str, token: str, bucket: str, org: str, timeout_s: float) -> str:
    status, headers, _ = _http(f"{url}/ping", timeout_s=timeout_s)
    version = next((v for k, v in headers.items() if k.lower() == "x-influxdb-version"), "")
    if status not in (200, 204) or not version:
        raise _Failed("error", f"{url} answers /ping with HTTP {status}: is it InfluxDB?")
    auth = {"Authorization": f"Token {token}"} if token else {}
    who = "the token" if token else "no token"
    if version.startswith("1."):
        database, _, policy = bucket.partition("/")
        query = quote(f'SHOW MEASUREMENTS ON "{database}" LIMIT 1')
        status, _, body = _http(f"{url}/query?db={quote(database)}&q={query}", auth, timeout_s)
        text = body.decode(errors="replace")
        if status == 401:
            raise _Failed("authentication", f"InfluxDB {version} refused {who} (HTTP 401): check the token "
                                            "(InfluxDB 1.8 takes user:password)")
        if status == 403 or "not authorized" in text:
            raise _Failed("permission", f"the token may not read the database {database} ({_influx_error(text)})")
        if "database not found" in text:
            raise _Failed("missing", f"InfluxDB has no database {database}: the stack's sink creates it, or "
                                     "create it there")
        if status != 200:
            raise _Failed("error", f"InfluxDB answered HTTP {status}: {_influx_error(text)}")
        return f"{url}: InfluxDB {version}, {who} reads {bucket}"
    status, _, body = _http(f"{url}/api/v2/buckets?name={quote(bucket)}" + (f"&org={quote(org)}" if org else ""),
                            auth, timeout_s)
    if status == 401:
        raise _Failed("authentication", f"InfluxDB {version} refused {who} (HTTP 401): check the token")
    if status != 200:
        raise _Failed("error", f"InfluxDB answered HTTP {status}: {body[:200].decode(errors='replace')}")
    if not json.loads(body).get("buckets"):
        raise _Failed("missing", f"InfluxDB has no bucket {bucket} (or the token may not see it)")
    return f"{url}: InfluxDB {version}, {who} sees {bucket}"


def _influx_error(text: str) -> str:
    try:
        data = json.loads(text)
        return data.get("error") or data["results"][0].get("error") or text[:200]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return text[:200]


def check_grafana(url: str, timeout_s: float = TIMEOUT_S) -> Finding:
    """Grafana's ``/api/health``."""
    def grafana() -> str:
        status, _, body = _http(f"{url.rstrip('/')}/api/health", timeout_s=timeout_s)
        if status != 200:
            raise _Failed("error", f"{url} answers /api/health with HTTP {status}: is it Grafana?")
        health = json.loads(body)
        return f"{url}: Grafana {health.get('version', '')}, database {health.get('database', '?')}"

    return _guarded("Grafana", grafana)


def check_flink(url: str, timeout_s: float = TIMEOUT_S) -> Finding:
    """The cluster's TaskManagers and slots, and whether both jobs run."""
    def flink() -> str:
        base = url.rstrip("/")
        status, _, body = _http(f"{base}/overview", timeout_s=timeout_s)
        if status != 200:
            raise _Failed("error", f"{url} answers /overview with HTTP {status}: is it Flink's REST API?")
        overview = json.loads(body)
        _, _, jobs_body = _http(f"{base}/jobs/overview", timeout_s=timeout_s)
        running = {job["name"] for job in json.loads(jobs_body).get("jobs", []) if job.get("state") == "RUNNING"}
        missing = [job for job in JOBS if job not in running]
        cluster = (f"Flink {overview.get('flink-version', '')}, {overview.get('taskmanagers', 0)} TaskManagers, "
                   f"{overview.get('slots-total', 0)} slots")
        if missing:
            raise _Failed("missing", f"{cluster}; not running: {', '.join(missing)} (submit them with "
                                     f"`tickerwire stack deploy-jobs --flink {url}`)")
        return f"{url}: {cluster}, both jobs running"

    return _guarded("Flink", flink)


# --- the archive --------------------------------------------------------------------------------------------------------


def check_catalog(uri: str, password: str, timeout_s: float = TIMEOUT_S) -> Finding:
    """Log in to the catalog's PostgreSQL and list its Iceberg tables (pyiceberg's ``iceberg_tables``)."""
    return _guarded("Iceberg catalog", lambda: _catalog(uri, password, timeout_s))


def _catalog(uri: str, password: str, timeout_s: float) -> str:
    import psycopg2

    parts = urlsplit(uri)
    try:
        connection = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                                      password=password or None, dbname=parts.path.lstrip("/"),
                                      connect_timeout=max(1, int(timeout_s)))
    except psycopg2.OperationalError as exc:
        raise _Failed(*_postgres_problem(str(exc), parts)) from exc
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('iceberg_tables') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return f"{parts.hostname}:{parts.port or 5432}: logged in; no Iceberg tables yet (the sink makes them)"
            cursor.execute("SELECT table_namespace || '.' || table_name FROM iceberg_tables ORDER BY 1")
            tables = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    return f"{parts.hostname}:{parts.port or 5432}: logged in; tables {', '.join(tables) or 'none yet'}"


def _postgres_problem(text: str, parts) -> tuple[str, str]:
    lowered = text.lower()
    where = f"{parts.hostname}:{parts.port or 5432}"
    if "could not translate host name" in lowered:
        return "dns", f"the catalog's name {parts.hostname} is not found (DNS)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "authentication", f"PostgreSQL at {where} refused the login of {parts.username!r}: wrong password"
    if "does not exist" in lowered and "database" in lowered:
        return "missing", f"PostgreSQL at {where} has no database {parts.path.lstrip('/')!r}"
    if "connection refused" in lowered:
        return "refused", f"nothing answers at {where} (connection refused)"
    if "timeout" in lowered:
        return "timeout", f"{where} does not answer (timed out)"
    if "ssl" in lowered or "certificate" in lowered:
        return "tls", f"TLS with the catalog at {where} failed: {text.strip().splitlines()[0]}"
    return "error", f"cannot reach the catalog at {where}: {text.strip().splitlines()[0]}"


def check_warehouse(endpoint: str, warehouse: str, region: str, access_key: str, secret_key: str,
                    timeout_s: float = TIMEOUT_S) -> Finding:
    """List (at most) one key of the warehouse bucket with a signed request."""
    def warehouse_check() -> str:
        from stack.remote.s3 import bucket_of, error_code, signed_list_request

        bucket = bucket_of(warehouse)
        if not bucket:
            raise _Failed("settings", f"the warehouse {warehouse!r} is not an s3://bucket/ location")
        request = signed_list_request(endpoint, bucket, region, access_key, secret_key)
        status, _, body = _http(request.full_url, timeout_s=timeout_s, request=request)
        code = error_code(body)
        if status == 200:
            return f"{endpoint}: bucket {bucket} answers to the access key {access_key}"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurity") or status == 401:
            raise _Failed("authentication", f"the S3 store refused the access key {access_key!r} or its secret "
                                            f"({code or status})")
        if code == "NoSuchBucket" or status == 404:
            raise _Failed("missing", f"the S3 store has no bucket {bucket}")
        if code == "AccessDenied" or status == 403:
            raise _Failed("permission", f"the access key {access_key!r} may not list the bucket {bucket}")
        raise _Failed("error", f"the S3 store answered HTTP {status} {code}")

    return _guarded("S3 warehouse", warehouse_check)


def as_json(findings: list[Finding]) -> str:
    """The findings as a JSON list (for ``tickerwire stack test --json``)."""
    return json.dumps([asdict(f) for f in findings], indent=2)
