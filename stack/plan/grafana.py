"""The Grafana container (optional): the upstream image, provisioned with the TickerWire dashboard.

Grafana is the one image the project cannot build from the package registries, so it is pulled
(pinned); where it is neither present nor pullable the stack starts without it and says so. It reads
InfluxDB as the read-only ``reader`` user: the datasource file carrying that password, and the admin
password file, are secret files (mode 0400, owned by Grafana's user). It listens on its network
address only (published on the host's 127.0.0.1); anonymous visitors are read-only viewers, so the
app's tab can embed the dashboard without a login.
"""

from __future__ import annotations

import json

from stack.grafana import DASHBOARDS_DIR, PROVISIONING, build_dashboard, dashboard_providers, datasources
from stack.plan.influxdb import READER_USER
from stack.plan.model import SECRETS_DIR, ContainerPlan, FileCopy, HealthCheck, Names, PortBinding, SecretFile
from stack.plan.model import VolumeMount
from stack.plan.spec import StackSpec, influx_bucket

#: The upstream image's user and group.
GRAFANA_UID = 472
#: Bucket the pipeline-health panels read (not written by this stack's InfluxDB 1.8, which has no tasks).
METRICS_BUCKET = "pipeline/autogen"
_TOKEN = "@@TOKEN@@"


def _datasource_template(influx_url: str, bucket: str) -> str:
    """The datasource provisioning file with the reader's token as a credential placeholder."""
    text = json.dumps(datasources(influx_url, "tickerwire", bucket, token=_TOKEN), indent=2)
    return text.replace("{", "{{").replace("}", "}}").replace(_TOKEN, f"{READER_USER}:{{influx_reader_password}}")


def grafana(spec: StackSpec, n: Names) -> ContainerPlan:
    """Grafana with its provisioning files, its data volume and its secrets."""
    env = {
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{SECRETS_DIR}/grafana_password",
        "GF_SECURITY_ALLOW_EMBEDDING": "true",
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_NAME": "Main Org.",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": f"{DASHBOARDS_DIR}/tickerwire.json",
    }
    bucket = influx_bucket(spec)
    files = (FileCopy(f"{PROVISIONING}/dashboards/tickerwire.yaml", json.dumps(dashboard_providers(), indent=2)),
             FileCopy(f"{DASHBOARDS_DIR}/tickerwire.json", json.dumps(build_dashboard(bucket, METRICS_BUCKET))))
    secrets = (SecretFile(f"{SECRETS_DIR}/grafana_password", "{grafana_password}", GRAFANA_UID, GRAFANA_UID),
               SecretFile(f"{PROVISIONING}/datasources/tickerwire.yaml",
                          _datasource_template(f"http://{n.container('influxdb')}:8086", bucket),
                          GRAFANA_UID, GRAFANA_UID))
    # The image's /run.sh starts grafana-server; the address is the container's, known only at start.
    entrypoint = ("sh", "-c", 'GF_SERVER_HTTP_ADDR="$(hostname -i | cut -d" " -f1)" exec /run.sh "$@"', "grafana")
    return ContainerPlan(
        service="grafana", name=n.container("grafana"), image=spec.grafana_image, entrypoint=entrypoint,
        env=tuple(env.items()), ports=(PortBinding(3000, spec.ports.grafana),),
        volumes=(VolumeMount(n.volume("grafana-data"), "/var/lib/grafana"),),
        healthcheck=HealthCheck(("sh", "-c", 'wget -q -O /dev/null "http://$(hostname -i | cut -d" " -f1):3000/api/health"'),
                                interval_s=3, retries=40),
        files=files, secrets=secrets, depends_on=("influxdb",), optional=True,
    )
