"""How the pipeline reaches a running stack: its addresses plus the credentials, in the forms clients take.

:class:`StackAccess` pairs :class:`~stack.types.Endpoints` with the stack's credentials and gives
what the app's clients need: the InfluxDB token (``admin:<password>`` on InfluxDB 1.8), and the
pyiceberg catalog properties of the archive (SQL catalog on PostgreSQL, PyArrow file IO on S3).
``repr`` shows no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.stores.catalog import sql_catalog_properties, with_password
from stack.credentials import StackCredentials
from stack.types import Endpoints

#: InfluxDB users the image creates (the app writes as the first, Grafana reads as the second).
INFLUX_ADMIN = "admin"
INFLUX_READER = "reader"


@dataclass(frozen=True)
class StackAccess:
    """A running stack's endpoints and credentials."""

    endpoints: Endpoints
    credentials: StackCredentials = field(repr=False)

    @property
    def influx_token(self) -> str:
        """The token the app writes with (InfluxDB 1.8 takes ``user:password`` on its 2.x API)."""
        return f"{INFLUX_ADMIN}:{self.credentials.influx_admin_password}"

    @property
    def influx_reader_token(self) -> str:
        """A read-only token (the one Grafana uses)."""
        return f"{INFLUX_READER}:{self.credentials.influx_reader_password}"

    def catalog_uri(self) -> str:
        """The SQL catalog's SQLAlchemy URL with its password (never log it)."""
        return with_password(self.endpoints.catalog_uri, self.credentials.postgres_password)

    def catalog_properties(self) -> dict[str, str]:
        """pyiceberg properties of the archive: ``load_catalog("tickerwire", **access.catalog_properties())``."""
        e, c = self.endpoints, self.credentials
        return sql_catalog_properties(e.catalog_uri, c.postgres_password, e.warehouse, e.s3_endpoint, e.s3_region,
                                      c.s3_access_key, c.s3_secret_key)
