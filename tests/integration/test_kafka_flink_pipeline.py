"""Kafka → Flink → sink on a real broker and a real Flink job, checked against the embedded aggregator.

The embedded aggregator (``backend.processing.aggregator``) is the oracle: the job must
produce the same candles, candle for candle (floats within a relative 1e-9). Each test
uses its own symbols and consumer group on the session's shared broker and job.
"""

from __future__ import annotations

import json
import time

import pytest

from backend.bus import schema
from backend.bus.kafka import DEAD_LETTERS, PRICES, KafkaPublisher, SinkConsumer
from backend.processing.aggregator import aggregate
from market_session import CandleSink, bars_of, differences, generated_frames, publish, recorded_bars

pytestmark = pytest.mark.integration

#: First results take a few seconds after the job starts; allow for a loaded CI machine.
SETTLE_S = 180


def test_recorded_and_generated_session_equals_embedded_aggregator(kafka_broker, flink_job, tmp_path):
    bars = recorded_bars() + bars_of(generated_frames([f"EQ{c}" for c in "ABCDEFGHIJ"], minutes=180, seed=7))
    expected = aggregate(bars)
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    publish(publisher, bars)
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-equivalence", tmp_path / "sink.db")
    try:
        found = sink.wait_for(expected, SETTLE_S)
    finally:
        sink.close()
    assert len(expected) > 2_000
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + flink_job.log_tail()


MALFORMED = [
    ("not-json", b"{not json"),
    ("array", b"[1, 2, 3]"),
    ("version", json.dumps({"type": "bar", "version": 2, "ev": "AM", "sym": "DLA"}).encode()),
    ("type", json.dumps({"type": "candle", "version": 1}).encode()),
    ("ev", json.dumps({"type": "bar", "version": 1, "ev": "T", "sym": "DLA", "s": 1, "e": 2}).encode()),
    ("price", json.dumps({"type": "bar", "version": 1, "ev": "A", "sym": "DLA", "s": 1738593060000,
                          "e": 1738593061000, "o": "12.5", "h": 13, "l": 12, "c": 12.5, "v": 10,
                          "vw": 12.4}).encode()),
    ("volume", json.dumps({"type": "bar", "version": 1, "ev": "A", "sym": "DLA", "s": 1738593060000,
                           "e": 1738593061000, "o": 12.5, "h": 13, "l": 12, "c": 12.5, "v": -10,
                           "vw": 12.4}).encode()),
]


def _expected_reason(payload: bytes) -> str:
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_bar(payload)
    return caught.value.reason


def test_malformed_messages_land_in_dead_letters_and_valid_traffic_continues(kafka_broker, flink_job, tmp_path):
    bars = bars_of(generated_frames(["DLA", "DLB"], minutes=20, seed=3))
    expected = aggregate(bars)
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    half = len(bars) // 2
    publish(publisher, bars[:half])
    for key, payload in MALFORMED:
        publisher.produce(PRICES, f"dead-letter-test-{key}", payload)
    publish(publisher, bars[half:])

    letters: dict[str, schema.DeadLetter] = {}
    collector = SinkConsumer(kafka_broker.bootstrap_servers, "test-dead-letters", [DEAD_LETTERS],
                             lambda records: letters.update((r.value.key, r.value) for r in records))
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-dead-letters-candles", tmp_path / "sink.db")
    try:
        found = sink.wait_for(expected, SETTLE_S)
        deadline = time.monotonic() + 60
        wanted = {f"dead-letter-test-{key}" for key, _ in MALFORMED}
        while time.monotonic() < deadline and not wanted <= letters.keys():
            collector.poll_once(timeout=0.5)
    finally:
        sink.close()
        collector.close()
    assert not differences(expected, found), "\n".join(differences(expected, found))
    for key, payload in MALFORMED:
        letter = letters.get(f"dead-letter-test-{key}")
        assert letter is not None, f"no dead letter for {key}: {sorted(letters)}\n{flink_job.log_tail()}"
        assert letter.source_topic == PRICES
        assert letter.payload == payload.decode()
        reason = _expected_reason(payload)
        if key == "not-json":  # the parsers' own wording differs after the common prefix
            assert letter.reason.startswith("not valid JSON: ") and reason.startswith("not valid JSON: ")
        else:
            assert letter.reason == reason
