"""At-least-once consumption on a real broker: offsets are committed only after the sink wrote."""

from __future__ import annotations

import pytest

from backend.bus.kafka import PRICES, KafkaPublisher, Record, SinkConsumer
from backend.model import Bar

pytestmark = pytest.mark.integration


def _bars(prefix: str, n: int) -> list[Bar]:
    return [Bar("AM", f"{prefix}{i % 3}", 1738593060000 + i * 60_000, 1738593120000 + i * 60_000,
                10.0, 11.0, 9.0, 10.5, 100.0 + i, 10.2) for i in range(n)]


def _drain(consumer: SinkConsumer, rounds: int = 20) -> None:
    for _ in range(rounds):
        consumer.poll_once(timeout=0.5)


def test_failed_sink_write_is_replayed_and_a_replay_does_not_duplicate(kafka_broker):
    bars = _bars("ALO", 60)
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    for bar in bars:
        publisher.publish_bar(bar)
    publisher.flush()
    ours = {bar.symbol for bar in bars}
    sink: dict[tuple[str, int], Bar] = {}
    writes: list[Bar] = []
    failures = [OSError("disk full")]

    def upsert(records: list[Record]) -> None:
        mine = [r.value for r in records if r.value.symbol in ours]
        if mine and failures:
            raise failures.pop()
        writes.extend(mine)
        sink.update(((bar.symbol, bar.start_ms), bar) for bar in mine)

    # Other tests put malformed messages on the topic: they go to the dead-letter topic, as in the app.
    letters = KafkaPublisher(kafka_broker.bootstrap_servers)
    consumer = SinkConsumer(kafka_broker.bootstrap_servers, "test-at-least-once", [PRICES], upsert,
                            dead_letters=letters)
    with pytest.raises(OSError, match="disk full"):
        _drain(consumer)
    _drain(consumer)  # the same consumer retries the failed batch
    consumer.close()
    assert sorted(sink.values(), key=lambda b: b.start_ms) == bars  # nothing lost after the failure

    writes.clear()
    again = SinkConsumer(kafka_broker.bootstrap_servers, "test-at-least-once", [PRICES], upsert,
                         dead_letters=letters)
    _drain(again, rounds=6)
    again.close()
    assert writes == []  # committed after the successful write: not delivered again
    assert len(sink) == len(bars)
