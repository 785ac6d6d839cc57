"""The Iceberg archive's catalog properties for pyiceberg: a SQL catalog on PostgreSQL, data files on S3.

Standard library only (no pyiceberg here): the Docker stack's access (:mod:`stack.access`) and a remote
stack's profile (:mod:`backend.remote_stack`) both describe their archive with
:func:`sql_catalog_properties`, and only the archive's own process loads pyiceberg with them.
"""

from __future__ import annotations

from urllib.parse import quote


def with_password(uri: str, password: str) -> str:
    """``scheme://user@host…`` with the password put in (URL-quoted); the result is a secret."""
    if not password:
        return uri
    scheme, _, rest = uri.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def sql_catalog_properties(uri: str, password: str, warehouse: str, s3_endpoint: str, s3_region: str,
                           s3_access_key: str, s3_secret_key: str) -> dict[str, str]:
    """``load_catalog("tickerwire", **properties)`` for a SQL catalog (``uri`` without its password) whose
    warehouse is on an S3 API (path-style, as S3Proxy and MinIO-like stores want). Holds secrets."""
    return {
        "type": "sql",
        "uri": with_password(uri, password),
        "warehouse": warehouse,
        "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
        "s3.endpoint": s3_endpoint,
        "s3.region": s3_region,
        "s3.path-style-access": "true",
        "s3.access-key-id": s3_access_key,
        "s3.secret-access-key": s3_secret_key,
    }
