"""The InfluxDB 1.8 container: the hot store, with authentication on.

Users: ``admin`` (all privileges; the app writes and manages retention with it) and ``reader``
(read-only on the database; Grafana reads with it). Their passwords arrive as secret files and are
used once, when the volume is initialised (the image's entrypoint). The app's token is
``admin:<password>`` (InfluxDB 1.8's form of a token for the 2.x API the app speaks).
"""

from __future__ import annotations

from stack.plan.images import SERVICE_UIDS
from stack.plan.model import SECRETS_DIR, ContainerPlan, HealthCheck, Names, PortBinding, SecretFile, VolumeMount
from stack.plan.spec import StackSpec

ADMIN_USER = "admin"
READER_USER = "reader"


def influxdb(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """influxd with its data volume and the two users' secret files."""
    uid = SERVICE_UIDS["influxdb"]
    return ContainerPlan(
        service="influxdb", name=n.container("influxdb"), image=image, build="influxdb",
        env=(("INFLUX_DATABASE", spec.influx_database),),
        ports=(PortBinding(8086, spec.ports.influxdb),),
        volumes=(VolumeMount(n.volume("influxdb-data"), "/var/lib/influxdb"),),
        secrets=(SecretFile(f"{SECRETS_DIR}/influx_admin_password", "{influx_admin_password}", uid, uid),
                 SecretFile(f"{SECRETS_DIR}/influx_reader_password", "{influx_reader_password}", uid, uid)),
        healthcheck=HealthCheck(("/opt/influxdb/healthcheck",), interval_s=2, retries=60, start_period_s=5),
    )
