#!/bin/bash
# On the first start (no marker in the volume): run influxd on loopback only, create the admin user
# (ALL PRIVILEGES), the database INFLUX_DATABASE and the read-only user "reader" with the passwords of
# the secret files, stop it. Then run influxd on this container's address. Queries carrying passwords
# go to curl through files (never on a command line).
set -euo pipefail
ip=$(container-ip)
secrets=/run/secrets/tickerwire
conf=/etc/influxdb/influxdb.conf
render() { sed "s|@HTTP_ADDRESS@|$1|" /opt/influxdb/influxdb.conf.template >"$conf"; }
marker=/var/lib/influxdb/.tickerwire-users

if [ ! -e "$marker" ]; then
    render 127.0.0.1:8086
    influxd run -config "$conf" &
    pid=$!
    for _ in $(seq 300); do
        curl --silent --fail --output /dev/null http://127.0.0.1:8086/ping && break
        kill -0 "$pid" || { echo "influxd exited during setup" >&2; exit 1; }
        sleep 0.2
    done
    work=$(umask 077 && mktemp -d)
    printf 'user = "admin:%s"\n' "$(cat "$secrets/influx_admin_password")" >"$work/curlrc"
    query() {  # query TEXT [curl options]: run an InfluxQL statement, fail on an error in the answer
        printf '%s' "$1" >"$work/q"
        shift
        answer=$(curl --silent --show-error --fail "$@" -X POST http://127.0.0.1:8086/query --data-urlencode "q@$work/q")
        case "$answer" in *'"error"'*) echo "influxdb setup failed: $answer" >&2; exit 1 ;; esac
    }
    query "CREATE USER admin WITH PASSWORD '$(cat "$secrets/influx_admin_password")' WITH ALL PRIVILEGES"
    query "CREATE DATABASE \"${INFLUX_DATABASE:?}\"" --config "$work/curlrc"
    query "CREATE USER reader WITH PASSWORD '$(cat "$secrets/influx_reader_password")'" --config "$work/curlrc"
    query "GRANT READ ON \"${INFLUX_DATABASE}\" TO reader" --config "$work/curlrc"
    rm -rf "$work"
    kill -TERM "$pid"
    wait "$pid" || true
    touch "$marker"
    echo "influxdb: created the admin and reader users and the database ${INFLUX_DATABASE}"
fi
render "${ip}:8086"
exec influxd run -config "$conf"
