#!/bin/bash
# Initialises the cluster on the first start (role POSTGRES_USER with the secret password, database
# POSTGRES_DB owned by it; password logins only, from the stack's network) and runs PostgreSQL on this
# container's address and a Unix socket.
set -euo pipefail
ip=$(container-ip)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb --username="${POSTGRES_USER:?}" --pwfile=/run/secrets/tickerwire/postgres_password \
        --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
    echo "host all all samenet scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"${POSTGRES_DB:?}\" OWNER \"${POSTGRES_USER}\";" | postgres --single -D "$PGDATA" postgres
fi
exec postgres -D "$PGDATA" -c listen_addresses="$ip" -c unix_socket_directories=/run/postgresql \
    -c password_encryption=scram-sha-256
