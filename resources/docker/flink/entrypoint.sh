#!/bin/bash
# entrypoint.sh jobmanager | taskmanager | job NAME SCRIPT [JOB OPTIONS...]
# Writes Flink's configuration for this container (its address, the job manager's name, memory, slots)
# and runs the role in the foreground: a Flink JobManager, a TaskManager, or a job client that keeps the
# job NAME running on the cluster (flinkctl.py).
#   FLINK_JOBMANAGER        the job manager's container name (RPC and REST)
#   FLINK_JOBMANAGER_MEMORY, FLINK_TASKMANAGER_MEMORY, FLINK_TASK_SLOTS
set -euo pipefail
role=${1:?usage: entrypoint.sh jobmanager|taskmanager|job NAME SCRIPT [OPTIONS...]}
shift
ip=$(container-ip)
resource_id="$(hostname)-$(date +%s)"
sed -e "s|@BIND@|${ip}|g" -e "s|@JOBMANAGER@|${FLINK_JOBMANAGER:?}|g" -e "s|@RESOURCE_ID@|${resource_id}|g" \
    -e "s|@JOBMANAGER_MEMORY@|${FLINK_JOBMANAGER_MEMORY:-1024m}|g" \
    -e "s|@TASKMANAGER_MEMORY@|${FLINK_TASKMANAGER_MEMORY:-2048m}|g" \
    -e "s|@TASK_SLOTS@|${FLINK_TASK_SLOTS:-2}|g" \
    "$JOB_HOME/bin/config.yaml.template" >"$FLINK_CONF_DIR/config.yaml"
case "$role" in
jobmanager)
    exec jobmanager.sh start-foreground
    ;;
taskmanager)
    echo "$resource_id" >"$JOB_HOME/tmp/resource-id"
    exec taskmanager.sh start-foreground
    ;;
job)
    exec /opt/pyflink/bin/python "$JOB_HOME/bin/flinkctl.py" run "$@"
    ;;
*)
    echo "entrypoint.sh: unknown role $role (jobmanager, taskmanager or job)" >&2
    exit 2
    ;;
esac
