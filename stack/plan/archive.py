"""The Iceberg archive's two containers: PostgreSQL as pyiceberg's SQL catalog, S3Proxy as its object store.

Why these: both are real servers built here from the registries (Debian's ``postgresql-15``;
``org.gaul:s3proxy`` from Maven Central), both Apache/PostgreSQL-licensed (MinIO's server is AGPL),
and pyiceberg speaks to them without any further service: its ``SqlCatalog`` keeps the catalog's
tables in PostgreSQL, its PyArrow file IO writes the data and metadata files through S3. (The Iceberg
REST catalog's test-fixture server is not on Maven Central; SeaweedFS would be a second Go build.)
The app on the host reaches both through ports published on 127.0.0.1; the passwords arrive in the
containers as files (:class:`~stack.plan.model.SecretFile`).
"""

from __future__ import annotations

from stack.plan.images import SERVICE_UIDS
from stack.plan.model import SECRETS_DIR, ContainerPlan, HealthCheck, Names, PortBinding, SecretFile, VolumeMount
from stack.plan.spec import StackSpec

#: The S3 region the clients sign with (S3Proxy accepts any).
S3_REGION = "us-east-1"


def catalog(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """PostgreSQL with the catalog's role and database (both named ``spec.catalog_database``)."""
    uid = SERVICE_UIDS["postgres"]
    env = {"POSTGRES_USER": spec.catalog_database, "POSTGRES_DB": spec.catalog_database}
    return ContainerPlan(
        service="catalog", name=n.container("catalog"), image=image, build="postgres", env=tuple(env.items()),
        ports=(PortBinding(5432, spec.ports.catalog),),
        volumes=(VolumeMount(n.volume("catalog-data"), "/var/lib/postgresql/data"),),
        secrets=(SecretFile(f"{SECRETS_DIR}/postgres_password", "{postgres_password}", uid, uid),),
        healthcheck=HealthCheck(("/usr/local/lib/tickerwire/healthcheck",), interval_s=2, retries=60,
                                start_period_s=5),
    )


def s3(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """S3Proxy on a directory volume, with the warehouse bucket and signed requests only."""
    uid = SERVICE_UIDS["s3proxy"]
    properties = ("s3proxy.authorization=aws-v2-or-v4\n"
                  "s3proxy.identity={s3_access_key}\n"
                  "s3proxy.credential={s3_secret_key}\n")
    return ContainerPlan(
        service="s3", name=n.container("s3"), image=image, build="s3proxy",
        env=(("S3_BUCKET", spec.warehouse_bucket), ("S3PROXY_HEAP", "256m")),
        ports=(PortBinding(9000, spec.ports.s3),),
        volumes=(VolumeMount(n.volume("s3-data"), "/var/lib/s3proxy"),),
        secrets=(SecretFile(f"{SECRETS_DIR}/s3proxy.properties", properties, uid, uid),),
        healthcheck=HealthCheck(("/opt/s3proxy/bin/healthcheck",), interval_s=2, retries=60, start_period_s=5),
    )
