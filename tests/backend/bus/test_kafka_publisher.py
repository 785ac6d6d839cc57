"""The Kafka publisher's failure contract, against an address where no broker listens (no service needed)."""

from __future__ import annotations

import time

import pytest

from backend.bus.kafka import BusBackpressure, BusUnavailable, DeliveryFailed, KafkaPublisher, producer_config
from stack.local.kafka import free_port

pytestmark = pytest.mark.filterwarnings("ignore")


def _unreachable() -> str:
    return f"127.0.0.1:{free_port()}"


def test_idempotent_producer_settings():
    config = producer_config("127.0.0.1:9092")
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["compression.type"] == "lz4" and config["linger.ms"] > 0


def test_full_queue_is_backpressure_not_loss():
    publisher = KafkaPublisher(_unreachable(), max_block_s=0.5, **{"queue.buffering.max.messages": 10,
                                                                   "log_level": 0})
    for i in range(10):
        publisher.produce("stock-prices", "AAPL", b"%d" % i)
    started = time.monotonic()
    with pytest.raises(BusBackpressure, match="queue full"):
        publisher.produce("stock-prices", "AAPL", b"one too many")
    assert time.monotonic() - started >= 0.5  # it waited for room before giving up
    assert publisher.pending() == 10  # everything accepted is still queued


def test_flush_reports_undelivered_messages_when_the_cluster_is_unreachable():
    publisher = KafkaPublisher(_unreachable(), **{"log_level": 0})
    publisher.produce("stock-prices", "AAPL", b"{}")
    with pytest.raises(BusUnavailable, match="1 message"):
        publisher.flush(timeout=1.0)


def test_a_message_that_times_out_is_reported_failed_and_not_counted_delivered():
    """Delivery reports come for failures only (cheaper); a failure still surfaces at flush."""
    publisher = KafkaPublisher(_unreachable(), **{"log_level": 0, "message.timeout.ms": 300})
    publisher.produce("stock-prices", "AAPL", b"{}")
    with pytest.raises(DeliveryFailed, match="1 message"):
        publisher.flush(timeout=10.0)
    for _ in range(100):  # librdkafka may count the failed message a moment after its report was served
        if publisher.pending() == 0:
            break
        publisher.poll(0.01)
    assert publisher.pending() == 0 and publisher.delivered == 0
