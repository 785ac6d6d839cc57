#!/bin/bash
# Creates the warehouse bucket (a directory, for the filesystem store) and runs S3Proxy on this
# container's address, port 9000. S3_BUCKET names the bucket; the credentials are in the secret file.
set -euo pipefail
ip=$(container-ip)
mkdir -p "/var/lib/s3proxy/${S3_BUCKET:?}"
exec java -Xmx"${S3PROXY_HEAP:-256m}" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Ds3proxy.endpoint="http://${ip}:9000" -Djclouds.provider=filesystem -Djclouds.filesystem.basedir=/var/lib/s3proxy \
    -jar /opt/s3proxy/s3proxy-*-jar-with-dependencies.jar --properties /run/secrets/tickerwire/s3proxy.properties
