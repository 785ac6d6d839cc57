"""What the candle job and the impact job share: the Kafka source table and the runtime configuration.

Both jobs import it from their own directory, in the Flink venv or the Flink image; PyFlink is
imported only when a configuration is built.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
            'properties.bootstrap.servers' = '{args.bootstrap_servers}',
            'properties.group.id' = '{args.group_id}',
            'scan.startup.mode' = 'earliest-offset',
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )"""


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest completed checkpoint (``chk-N`` with ``_metadata``) under ``directory``, if any."""
    done = [p.parent for p in directory.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: p.stat().st_mtime, default=None)


def configuration(args: argparse.Namespace, job_name: str, extra: dict[str, str]):
    """The job's Flink configuration: jars, name, parallelism, filesystem checkpoints kept on stop and
    resumed from (the newest one, if any), a restart strategy that outlasts a broker outage, and ``extra``."""
    from pyflink.common import Configuration  # the caller's Flink venv; keeps this module importable without it

    options = {
        "pipeline.jars": args.jars,
        "pipeline.name": job_name,
        "parallelism.default": str(args.parallelism),
        "execution.checkpointing.interval": f"{args.checkpoint_interval_ms} ms",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": Path(args.checkpoint_dir).resolve().as_uri(),
        "execution.checkpointing.num-retained": "2",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        # A checkpoint that fails while the broker is away must not restart the job.
        "execution.checkpointing.tolerable-failed-checkpoints": "1000",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "1000",
        "restart-strategy.fixed-delay.delay": "2 s",
        **extra,
    }
    resume = latest_checkpoint(Path(args.checkpoint_dir).resolve())
    if resume is not None:
        options["execution.state-recovery.path"] = resume.as_uri()
        options["execution.state-recovery.ignore-unclaimed-state"] = "true"
        print(f"resuming from {resume}", flush=True)
    config = Configuration()
    for key, value in options.items():
        config.set_string(key, value)
    return config
