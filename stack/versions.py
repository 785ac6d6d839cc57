"""Every pinned version of the stack's software, in one place (pure constants, standard library only).

The local-process backend (:mod:`stack.local`) and the image builds (:mod:`stack.plan.images`) both
read them, so a local run and a container run use the same Kafka, Flink and InfluxDB. After changing
a Maven or PyPI pin, regenerate the checked-in locks with ``python -m stack.locks``: a test fails
while a lock still describes the old pins.
"""

from __future__ import annotations

#: Apache Kafka (KRaft), run from its Maven Central jars.
KAFKA_VERSION = "4.1.1"
#: The broker plus an SLF4J binding so it logs through log4j2 (resolved with their dependencies).
KAFKA_ARTIFACTS = (f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}", "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3")
#: Kafka's command-line tools (TopicCommand), for creating topics inside the container (jar alone: its
#: other dependencies are the broker's).
KAFKA_TOOLS = f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}"

#: apache-flink on PyPI; its wheel carries Flink's distribution (bin/jobmanager.sh, lib/*.jar).
FLINK_VERSION = "2.2.1"
#: The Kafka SQL connector built for that Flink (one self-contained jar).
KAFKA_CONNECTOR = "org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2"

#: InfluxDB OSS, built from its Go module (1.9+ need cgo and Rust for Flux).
INFLUXDB_VERSION = "1.8.3"
INFLUXDB_MODULE = "github.com/influxdata/influxdb/cmd/influxd"

#: S3Proxy (Apache-2.0): the archive's S3 API, on the local filesystem. 4.x speaks the checksum headers
#: of current AWS SDKs (pyarrow's S3 client fails against 2.6.0's multipart uploads).
S3PROXY = "org.gaul:s3proxy:4.1.0:jar-with-dependencies"

#: Grafana: no registry here serves it, and it cannot be built from the package registries; optional.
GRAFANA_IMAGE = "grafana/grafana:11.6.0"

#: The Debian release every image is built on (the base image is a build argument).
DEBIAN_BASE_IMAGE = "debian:bookworm-slim"

MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
