"""What the candle job and the impact job share: the Kafka connection, the source table and the runtime configuration.

Both jobs import it from their own directory, in the Flink venv or the Flink image; PyFlink is
imported only when a configuration is built.

A cluster whose Kafka takes TLS or a SASL login gets its client properties from a JSON file
(``--kafka-properties FILE``: ``security.protocol``, ``sasl.mechanism``, ``sasl.jaas.config``,
``ssl.truststore.*``, as :meth:`backend.bus.security.KafkaSecurity.java_properties` writes them);
every Kafka table of both jobs carries them. The file holds a password: it is readable only by its
owner, and Flink hides those values (``password``, ``jaas.config``) where it shows options.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

#: Set by stack.local.flink for a job that runs its own mini-cluster on this machine.
LOCAL_CLUSTER_ENV = "TICKERWIRE_FLINK_LOCAL_CLUSTER"
#: A local mini-cluster listens on loopback only and takes no jar uploads or cancellations over its REST API.
#: (In the Docker stack the cluster's own configuration does the same for its containers.)
LOCAL_CLUSTER_OPTIONS = {
    "rest.address": "127.0.0.1",
    "rest.bind-address": "127.0.0.1",
    "jobmanager.rpc.address": "127.0.0.1",
    "jobmanager.bind-host": "127.0.0.1",
    "taskmanager.bind-host": "127.0.0.1",
    "taskmanager.host": "127.0.0.1",
    "web.submit.enable": "false",
    "web.cancel.enable": "false",
}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every job takes: how to reach Kafka, and where to resume from on a cluster."""
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--kafka-properties", default="", metavar="FILE",
                        help="JSON file of Kafka client properties for TLS/SASL (holds the password; mode 0600)")
    parser.add_argument("--resume-from", default="", metavar="URI",
                        help="a retained checkpoint to start from (default: the newest under a local --checkpoint-dir)")
    parser.add_argument("--job-name", default="", help="the job's name on the cluster (default: the job's own)")


def kafka_connection_sql(args: argparse.Namespace) -> str:
    """The ``WITH`` options that connect a Kafka table: the bootstrap servers and the security properties."""
    props = {"bootstrap.servers": args.bootstrap_servers}
    if args.kafka_properties:
        props.update(json.loads(Path(args.kafka_properties).read_text()))
    return ",\n            ".join(f"'properties.{key}' = '{_sql_quote(str(value))}'" for key, value in props.items())


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def kafka_source_sql(name: str, topic: str, args: argparse.Namespace) -> str:
    """A raw-bytes Kafka source (key ``k``, value ``payload``, with topic/partition/offset for dead
    letters). Resumed from a checkpoint, it continues from the checkpoint's offsets (with the state
    that goes with them); started without one, it reads the topic from the earliest retained record,
    never from committed group offsets: the job's state starts empty then, and only a replay of the
    retained log makes every open bucket the fold of all its children again (from group offsets it
    would rebuild today's roll-ups from the bars after them alone)."""
    return f"""
        CREATE TABLE {name} (
            k STRING,
            payload STRING,
            src_topic STRING METADATA FROM 'topic' VIRTUAL,
            src_partition INT METADATA FROM 'partition' VIRTUAL,
            src_offset BIGINT METADATA FROM 'offset' VIRTUAL
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{topic}',
            {kafka_connection_sql(args)},
            'properties.group.id' = '{args.group_id}',
            'scan.startup.mode' = 'earliest-offset',
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )"""


def _checkpoint_uri(directory: str) -> str:
    return directory if "://" in directory else Path(directory).resolve().as_uri()


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest completed checkpoint (``chk-N`` with ``_metadata``) under ``directory``, if any."""
    done = [p.parent for p in directory.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: p.stat().st_mtime, default=None)


def configuration(args: argparse.Namespace, job_name: str, extra: dict[str, str]):
    """The job's Flink configuration: jars, name, parallelism, filesystem checkpoints kept on stop and
    resumed from (the newest one, if any), a restart strategy that outlasts a broker outage, and ``extra``.

    ``--checkpoint-dir`` is a local directory (a mini-cluster, or the stack's job client beside its cluster:
    the newest checkpoint in it is resumed from) or a URI the cluster's JobManager and TaskManagers all
    reach (a job submitted from another machine: ``--resume-from`` names the checkpoint to start from)."""
    from pyflink.common import Configuration  # the caller's Flink venv; keeps this module importable without it

    options = {
        "pipeline.jars": args.jars,
        "pipeline.name": args.job_name or job_name,
        "parallelism.default": str(args.parallelism),
        "execution.checkpointing.interval": f"{args.checkpoint_interval_ms} ms",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": _checkpoint_uri(args.checkpoint_dir),
        "execution.checkpointing.num-retained": "2",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        # A checkpoint that fails while the broker is away must not restart the job.
        "execution.checkpointing.tolerable-failed-checkpoints": "1000",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "1000",
        "restart-strategy.fixed-delay.delay": "2 s",
        **extra,
    }
    if os.environ.get(LOCAL_CLUSTER_ENV):
        options.update(LOCAL_CLUSTER_OPTIONS)
    resume = args.resume_from or None
    if resume is None and "://" not in args.checkpoint_dir:
        newest = latest_checkpoint(Path(args.checkpoint_dir).resolve())
        resume = newest.as_uri() if newest is not None else None
    if resume is not None:
        options["execution.state-recovery.path"] = resume
        options["execution.state-recovery.ignore-unclaimed-state"] = "true"
        print(f"resuming from {resume}", flush=True)
    config = Configuration()
    for key, value in options.items():
        config.set_string(key, value)
    return config
