"""Fixtures that run a real Kafka broker (KRaft), the PyFlink candle job and the impact job for the stack tests.

One broker and one job serve the whole session (starting Flink costs tens of seconds);
tests keep apart by using their own symbols and consumer groups. Missing artefacts
FAIL the tests with the prepare command — they are never skipped.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from stack.local import PrepareMissing
from stack.local.flink import FlinkJob
from stack.local.kafka import KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Iterator[KafkaBroker]:
    """A real single-node KRaft broker on 127.0.0.1 with the pipeline's topics."""
    from backend.bus.kafka import default_topics, ensure_topics

    try:
        broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    broker.start()
    try:
        ensure_topics(broker.bootstrap_servers, default_topics(partitions=3))
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def flink_job(kafka_broker, tmp_path_factory) -> Iterator[FlinkJob]:
    """The candle job on a local Flink mini-cluster, reading the session's broker."""
    job = FlinkJob(kafka_broker.bootstrap_servers, tmp_path_factory.mktemp("flink") / "job.log",
                   options={"checkpoint-interval-ms": "2000"})
    try:
        job.command()
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    job.start(timeout=240)
    try:
        yield job
    finally:
        job.stop()


@pytest.fixture(scope="session")
def impact_job(flink_job, kafka_broker, tmp_path_factory) -> Iterator[FlinkJob]:
    """The news-impact job (its own mini-cluster) reading the candle job's output on the session's broker."""
    from stack.local.flink import IMPACT_JOB_SCRIPT

    job = FlinkJob(kafka_broker.bootstrap_servers, tmp_path_factory.mktemp("flink-impacts") / "job.log",
                   options={"checkpoint-interval-ms": "2000", "forget-grace-ms": "30000"},
                   script=IMPACT_JOB_SCRIPT)
    job.start(timeout=240)
    try:
        yield job
    finally:
        job.stop()
