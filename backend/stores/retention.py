"""Retention of the InfluxDB hot store: keep N days, on InfluxDB 1.8+ and InfluxDB 2 alike.

Two mechanisms work together:

* **Bucket retention** (coarse, done by the server): on InfluxDB 1.x the bucket
  ``"db/rp"`` is a database and a retention policy created with ``DURATION <N>d`` and
  one-hour shards; on InfluxDB 2 the bucket gets an ``expire`` retention rule. The
  server drops whole shards once they are entirely older than N days.
* **Exact deletion** (:meth:`Retention.delete_older_than`): deletes every point older
  than the cut-off, through InfluxQL ``DELETE`` on 1.x or the ``/api/v2/delete``
  endpoint on 2.x. The store runs it periodically, so nothing older than N days
  is ever served even between the server's shard sweeps.

The archive (Iceberg) keeps everything; this module only trims the hot store.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from backend.stores.base import StoreError

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class BucketName:
    """A bucket name split for InfluxDB 1.x: ``"db/rp"`` → database and retention policy."""

    database: str
    policy: str

    @classmethod
    def parse(cls, bucket: str, default_policy: str = "autogen") -> "BucketName":
        """Split ``"db/rp"``; a bare ``"db"`` uses ``default_policy``."""
        database, _, policy = bucket.partition("/")
        if not database:
            raise ValueError(f"bucket {bucket!r} has no database part")
        return cls(database, policy or default_policy)


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _rfc3339(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


class Retention:
    """Creates the hot store's bucket with its retention and trims data older than N days.

    Args:
        url: Base URL of the server.
        token: API token (2.x) or ``"user:password"`` (1.x); sent as an ``Authorization`` header only.
        org: Organisation (2.x only).
        bucket: Bucket name; ``"db/rp"`` on 1.x.
        days: Days of data to keep (``None``: keep forever).
        v1: True for an InfluxDB 1.x server, False for 2.x.
        timeout_s: Per-request timeout.
    """

    def __init__(
        self, url: str, token: str, org: str, bucket: str, days: int | None, *, v1: bool, timeout_s: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.org = org
        self.bucket = bucket
        self.days = days
        self.v1 = v1
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never show the token
        return f"Retention(url={self.url!r}, bucket={self.bucket!r}, days={self.days}, v1={self.v1})"

    # -- bucket ----------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket (1.x: database + retention policy) if missing; set its retention to N days.

        Raises:
            StoreError: the server refused or could not be reached.
        """
        if self.v1:
            self._ensure_v1()
        else:
            self._ensure_v2()

    def _ensure_v1(self) -> None:
        name = BucketName.parse(self.bucket)
        db, rp = _quote_ident(name.database), _quote_ident(name.policy)
        duration = f"{self.days}d" if self.days else "INF"
        self.influxql(f"CREATE DATABASE {db}")
        answer = self.influxql(f"SHOW RETENTION POLICIES ON {db}")
        existing = {row[0] for row in _series_values(answer)}
        verb = "ALTER" if name.policy in existing else "CREATE"
        shard = "SHARD DURATION 1h" if verb == "CREATE" else ""
        self.influxql(f"{verb} RETENTION POLICY {rp} ON {db} DURATION {duration} REPLICATION 1 {shard} DEFAULT")

    def _ensure_v2(self) -> None:  # pragma: no cover - needs an InfluxDB 2 server, none can run here
        from influxdb_client import BucketRetentionRules, InfluxDBClient

        rules = [BucketRetentionRules(type="expire", every_seconds=self.days * 86_400)] if self.days else []
        try:
            with InfluxDBClient(url=self.url, token=self._token, org=self.org, timeout=int(self.timeout_s * 1000)) as c:
                api = c.buckets_api()
                found = api.find_bucket_by_name(self.bucket)
                if found is None:
                    api.create_bucket(bucket_name=self.bucket, retention_rules=rules, org=self.org)
                else:
                    found.retention_rules = rules
                    api.update_bucket(found)
        except Exception as exc:
            raise StoreError(f"cannot create/update bucket {self.bucket!r}: {exc}") from exc

    # -- deletion --------------------------------------------------------------------------

    def delete_older_than(self, cutoff_ms: int) -> None:
        """Delete every point (all measurements) with time < ``cutoff_ms``.

        Raises:
            StoreError: the server refused or could not be reached.
        """
        if self.v1:
            db = BucketName.parse(self.bucket).database
            self.influxql(f"DELETE WHERE time < '{_rfc3339(cutoff_ms)}'", database=db)
        else:  # pragma: no cover - needs an InfluxDB 2 server
            body = {"start": "1970-01-01T00:00:00Z", "stop": _rfc3339(cutoff_ms)}
            query = urllib.parse.urlencode({"org": self.org, "bucket": self.bucket})
            self._request(f"/api/v2/delete?{query}", json.dumps(body).encode(), "application/json")

    def delete_series_older_than(self, measurement: str, tag: str, value: str, cutoff_ms: int) -> None:
        """Delete the points of one series (``measurement`` where ``tag`` = ``value``) with time < ``cutoff_ms``.

        Raises:
            StoreError: the server refused or could not be reached.
        """
        if self.v1:
            db = BucketName.parse(self.bucket).database
            self.influxql(f"DELETE FROM {_quote_ident(measurement)} WHERE {_quote_ident(tag)} = "
                          f"'{_quote_string(value)}' AND time < '{_rfc3339(cutoff_ms)}'", database=db)
        else:  # pragma: no cover - needs an InfluxDB 2 server
            body = {"start": "1970-01-01T00:00:00Z", "stop": _rfc3339(cutoff_ms),
                    "predicate": f'_measurement="{measurement}" AND {tag}="{value}"'}
            query = urllib.parse.urlencode({"org": self.org, "bucket": self.bucket})
            self._request(f"/api/v2/delete?{query}", json.dumps(body).encode(), "application/json")

    def enforce(self, now_ms: int) -> int | None:
        """Delete data older than ``days`` before ``now_ms``; return the cut-off used (None: keep forever)."""
        if not self.days:
            return None
        cutoff = now_ms - self.days * DAY_MS
        self.delete_older_than(cutoff)
        log.info("hot store retention: deleted points older than %s", _rfc3339(cutoff))
        return cutoff

    # -- HTTP ------------------------------------------------------------------------------

    def influxql(self, statement: str, database: str | None = None) -> dict:
        """Run one InfluxQL statement through the 1.x ``/query`` endpoint and return its JSON.

        Raises:
            StoreError: HTTP failure or an error in the statement's result.
        """
        params = {"q": statement}
        if database:
            params["db"] = database
        body = urllib.parse.urlencode(params).encode()
        answer = json.loads(self._request("/query", body, "application/x-www-form-urlencoded") or b"{}")
        for result in answer.get("results", []):
            if "error" in result:
                raise StoreError(f"InfluxQL {statement!r} failed: {result['error']}")
        return answer

    def _request(self, path: str, body: bytes, content_type: str) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method="POST")
        request.add_header("Content-Type", content_type)
        if self._token:
            request.add_header("Authorization", f"Token {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            raise StoreError(f"InfluxDB {path.split('?')[0]} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc


def _series_values(answer: dict) -> list[list]:
    rows: list[list] = []
    for result in answer.get("results", []):
        for series in result.get("series", []):
            rows.extend(series.get("values", []))
    return rows
