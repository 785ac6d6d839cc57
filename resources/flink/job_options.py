"""What the candle job and the impact job share: the Kafka source table and the runtime options.

Standard library only: both jobs import it from their own directory, in the Flink venv or the
Flink image, before PyFlink is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def kafka_source_sql(name: str, topic: str, args: argparse.Namespace) -> str:
    """A raw-bytes Kafka source (key ``k``, value ``payload``, with topic/partition/offset for dead
    letters) that starts from the job's committed group offsets, else the earliest."""
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
            'properties.bootstrap.servers' = '{args.bootstrap_servers}',
            'properties.group.id' = '{args.group_id}',
            'properties.auto.offset.reset' = 'earliest',
            'scan.startup.mode' = 'group-offsets',
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )"""


def runtime_options(args: argparse.Namespace, job_name: str) -> dict[str, str]:
    """Jars, name, parallelism, filesystem checkpoints and a restart strategy that outlasts a broker outage."""
    return {
        "pipeline.jars": args.jars,
        "pipeline.name": job_name,
        "parallelism.default": str(args.parallelism),
        "execution.checkpointing.interval": f"{args.checkpoint_interval_ms} ms",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": Path(args.checkpoint_dir).resolve().as_uri(),
        "execution.checkpointing.num-retained": "2",
        # A checkpoint that fails while the broker is away must not restart the job.
        "execution.checkpointing.tolerable-failed-checkpoints": "1000",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "1000",
        "restart-strategy.fixed-delay.delay": "2 s",
    }
