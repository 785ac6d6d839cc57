"""The local Kafka runner: clear failure without prepared jars; a real broker survives SIGKILL and restart."""

from __future__ import annotations

import signal
import uuid

import pytest

from stack.local import PrepareMissing
from stack.local.kafka import KafkaBroker, classpath, new_cluster_id


def test_missing_jars_name_the_prepare_command(tmp_path):
    with pytest.raises(PrepareMissing, match=r"python -m stack\.local prepare kafka"):
        classpath(tmp_path / "empty-cache")


def test_a_cluster_id_never_starts_like_an_option(monkeypatch):
    """Kafka's storage tool read a cluster id that started with '-' as an option, and formatting failed."""
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    cluster_id = new_cluster_id()
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"
    assert next(drawn, None) is None  # the id starting with '-' was drawn and refused


@pytest.mark.integration
def test_broker_binds_loopback_keeps_data_across_sigkill_and_stops_cleanly(tmp_path):
    from confluent_kafka import Consumer, Producer

    from backend.bus.kafka import TopicSpec, ensure_topics

    try:
        broker = KafkaBroker(tmp_path / "kafka")
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    broker.start()
    try:
        config = (tmp_path / "kafka" / "server.properties").read_text()
        assert f"listeners=PLAINTEXT://127.0.0.1:{broker.port},CONTROLLER://127.0.0.1:{broker.controller_port}" in config
        assert ensure_topics(broker.bootstrap_servers, [TopicSpec("durable", partitions=1)]) == ["durable"]
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all"})
        producer.produce("durable", b"before the crash", b"k")
        assert producer.flush(30) == 0
        port = broker.port
        pid = broker._process.pid
        broker.kill()
        assert not broker.running
        broker.start()
        assert broker.port == port and broker._process.pid != pid
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "after",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["durable"])
        values = []
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
                break
        consumer.close()
        assert values == [b"before the crash"]
    finally:
        process = broker._process
        broker.stop()
    assert process.returncode in (0, 143, -signal.SIGTERM)
