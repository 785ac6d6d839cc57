"""One signed S3 request, to learn whether the archive's warehouse bucket answers to the profile's keys.

AWS Signature Version 4 over the standard library (``hmac``, ``hashlib``): a ``ListObjectsV2`` of at
most one key, path-style (``<endpoint>/<bucket>``), as the archive's pyarrow file IO reaches
S3Proxy, MinIO-like stores and AWS alike. Nothing is written. The answer's XML error ``Code``
(``InvalidAccessKeyId``, ``SignatureDoesNotMatch``, ``NoSuchBucket``, ``AccessDenied``) says what is wrong.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import urllib.request
from urllib.parse import quote, urlsplit

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_list_request(endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                        now: datetime.datetime | None = None) -> urllib.request.Request:
    """A SigV4-signed ``GET /<bucket>?list-type=2&max-keys=1`` request."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(endpoint.rstrip("/"))
    host = parts.netloc
    path = f"{parts.path}/{quote(bucket, safe='')}"
    query = "list-type=2&max-keys=1"
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["GET", path, query, *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed,
                           _EMPTY_SHA256])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                     f"Signature={signature}")
    return urllib.request.Request(f"{parts.scheme}://{host}{path}?{query}", method="GET", headers={
        "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": stamp, "Authorization": authorization})


def error_code(body: bytes) -> str:
    """The ``<Code>`` of an S3 error answer ('' when there is none)."""
    match = re.search(rb"<Code>([^<]+)</Code>", body or b"")
    return match.group(1).decode(errors="replace") if match else ""


def bucket_of(warehouse: str) -> str:
    """``s3://bucket/prefix`` → ``bucket`` ('' when the warehouse is not on S3)."""
    parts = urlsplit(warehouse)
    return parts.netloc if parts.scheme in ("s3", "s3a") else ""
