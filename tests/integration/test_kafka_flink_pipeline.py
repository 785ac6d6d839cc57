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
from backend.model import Bar
from backend.processing.aggregator import aggregate
from market_session import CandleSink, bars_of, differences, generated_frames, publish, recorded_bars

pytestmark = pytest.mark.integration

#: First results take a few seconds after the job starts; allow for a loaded CI machine.
SETTLE_S = 180


def test_recorded_and_generated_session_equals_embedded_aggregator(kafka_broker, flink_job, tmp_path):
    bars = recorded_bars() + bars_of(generated_frames([f"EQ{c}" for c in "ABCDEFGHIJ"], minutes=180, seed=7))
    expected = aggregate(bars)
    restarts_before = flink_job.restarts()
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    publish(publisher, bars)
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-equivalence", tmp_path / "sink.db")
    try:
        found = sink.wait_for(expected, SETTLE_S)
    finally:
        sink.close()
    assert len(expected) > 2_000
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + flink_job.log_tail()
    assert flink_job.restarts() == restarts_before, f"the job failed over:\n{flink_job.log_tail()}"


def test_a_burst_of_bars_leaves_the_job_coalesced(kafka_broker, flink_job, tmp_path):
    """Each bar changes five candles, but the job sends only the latest version of each changed candle per
    flush (100 ms): a burst of second bars and their corrections costs a few messages, not five per bar."""
    hour = 1_738_602_000_000  # 2025-02-03 12:00 New York
    bars = [Bar("A", "COAL", hour + second * 1_000, hour + second * 1_000 + 1_000, price, price + 0.02,
                price - 0.02, price + 0.01, 10.0 + correction, price, avg_trade_size=2.0)
            for correction in range(3) for second in range(180)
            for price in [100 + second * 0.01 + correction * 0.001]]
    expected = aggregate(bars)
    publish(KafkaPublisher(kafka_broker.bootstrap_servers), bars)
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-coalesce", tmp_path / "sink.db")
    try:
        found = sink.wait_for(expected, SETTLE_S)
    finally:
        sink.close()
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + flink_job.log_tail()
    # Uncoalesced, 540 bars would be 2,700 messages; the burst arrives within a few flushes of 7 candles.
    assert sink.received["COAL"] <= len(bars) // 5, sink.received["COAL"]


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
# Almost valid records: the job's streaming parser must hand each to its full checks, which give the reason.
_VALID = {"type": "bar", "version": 1, "ev": "A", "sym": "DLA", "s": 1738593060000, "e": 1738593061000,
          "o": 12.5, "h": 13, "l": 12, "c": 12.5, "v": 10, "vw": 12.4, "z": 5}
MALFORMED += [
    ("otc-null", json.dumps({**_VALID, "otc": None}).encode()),
    ("empty-symbol", json.dumps({**_VALID, "sym": ""}).encode()),
    ("float-start", json.dumps({**_VALID, "s": 1738593060000.0}).encode()),
    ("trade-size", json.dumps({**_VALID, "z": -1}).encode()),
    ("version-float", json.dumps({**_VALID, "version": 1.0}).encode()),
    ("missing-vwap", json.dumps({k: v for k, v in _VALID.items() if k != "vw"}).encode()),
    ("duplicate-volume", json.dumps(_VALID).encode()[:-1] + b', "v": -1}'),
    ("not-json-trailing", json.dumps(_VALID).encode() + b" x"),
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
        if key.startswith("not-json"):  # the parsers' own wording differs after the common prefix
            assert letter.reason.startswith("not valid JSON: ") and reason.startswith("not valid JSON: ")
        else:
            assert letter.reason == reason


def _topic_payloads(bootstrap_servers: str, symbols: set[str], expected_count: int, timeout: float = 60) -> list[bytes]:
    """Every ``stock-prices`` payload keyed by one of ``symbols``, read from the start of the log."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"audit-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([PRICES])
    payloads: list[bytes] = []
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(5_000, 0.5)
            payloads += [m.value() for m in batch if m.error() is None and (m.key() or b"").decode() in symbols]
            idle_since = time.monotonic() if batch else idle_since
            if len(payloads) >= expected_count and time.monotonic() - idle_since > 3:
                break
    finally:
        consumer.close()
    return payloads


def test_broker_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(kafka_broker, flink_job, tmp_path):
    symbols = [f"CR{c}" for c in "ABCD"]
    bars = bars_of(generated_frames(symbols, minutes=60, seed=11))
    expected = aggregate(bars)
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-crash", tmp_path / "sink.db")
    third = len(bars) // 3
    try:
        publish(publisher, bars[:third])
        for _ in range(10):
            sink.consumer.poll_once(timeout=0.5)
        kafka_broker.kill()  # SIGKILL: no clean shutdown, no final flush
        for bar in bars[third:2 * third]:  # produced while the broker is down: queued, not lost
            publisher.publish_bar(bar)
        publisher.poll(1.0)
        assert publisher.pending() > 0
        kafka_broker.start()
        publish(publisher, bars[2 * third:])
        found = sink.wait_for(expected, SETTLE_S)
    finally:
        sink.close()
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + flink_job.log_tail()
    assert len(found) == len(expected)
    logged = _topic_payloads(kafka_broker.bootstrap_servers, set(symbols), len(bars))
    sent = [schema.encode_bar(bar) for bar in bars]
    assert len(logged) == len(sent), f"{len(logged)} bars in the log for {len(sent)} produced"
    assert sorted(logged) == sorted(sent)


def _embedded_pipeline_candles(bars: list, db_path) -> tuple[dict, list[str]]:
    """What the embedded pipeline stores for ``bars`` arriving one by one — its own processor, batch by batch:
    memory for the days it holds, the store (``late.py``) behind them — and what it rejected."""
    from backend.bus.base import PriceBatch
    from backend.model import Timeframe
    from backend.pipeline.embedded import EmbeddedProcessor
    from backend.stores.sqlite import SqliteStore

    processor = EmbeddedProcessor(db_path)
    processor.open()
    rejected = []
    for bar in bars:
        rejected += processor.process([PriceBatch([bar])]).rejected
    processor.close()
    store = SqliteStore(db_path)
    found = {c.key: c for sym in {b.symbol for b in bars} for tf in Timeframe for c in store.candles(sym, tf)}
    store.close()
    return found, rejected


def test_late_bars_follow_the_in_window_rules_like_the_embedded_pipeline_and_the_rest_is_dead_lettered(
        kafka_broker, flink_job, tmp_path):
    """Behind the per-symbol watermark (latest bar end − 15 min) bars follow the same rules as bars in time —
    an AM bar replaces its minute, an A bar is an upsert among its minute's seconds and is ignored once the
    minute has its AM bar — in the job's state and in the embedded pipeline (memory, or its store for the day
    before), so both equal the oracle. A second bar beyond the 60-minute seconds horizon, and a bar for an
    older New York day, which the job has evicted from state, go to the dead-letter topic instead of being
    merged wrongly (the embedded pipeline rejects the former with the same reason)."""
    bars = bars_of(generated_frames(["LTA", "LTB"], minutes=90, seed=5))  # 23:00–00:30 New York
    midnight = 1_738_645_200_000  # 2025-02-04 00:00 New York
    by_minute = {(b.symbol, b.start_ms - b.start_ms % 60_000): b for b in bars}
    with_am = {(b.symbol, b.start_ms) for b in bars if b.ev == "AM"}
    seconds_only = next(m for m in range(midnight + 2 * 60_000, midnight + 10 * 60_000, 60_000)
                        if ("LTA", m) not in with_am and ("LTA", m) in by_minute)  # a minute built from seconds
    second = by_minute[("LTA", seconds_only)]._replace(ev="A", start_ms=seconds_only + 30_000,
                                                      end_ms=seconds_only + 31_000, high=999.0, volume=77.0)
    late = [
        second,
        second._replace(volume=33.0, high=998.0),  # the same second re-sent: an upsert, not an addition
        by_minute[("LTA", midnight + 10 * 60_000)]._replace(ev="AM", low=0.5, volume=12_345.0),
        # a second for a minute that has its AM bar: ignored
        by_minute[("LTA", midnight + 10 * 60_000)]._replace(ev="A", start_ms=midnight + 610_000,
                                                           end_ms=midnight + 611_000, high=9_999.0, volume=5.0),
        by_minute[("LTB", midnight + 12 * 60_000)]._replace(ev="A", start_ms=midnight + 727_000,
                                                           end_ms=midnight + 728_000, close=1.25, volume=3.0),
        by_minute[("LTB", midnight + 1 * 60_000)]._replace(ev="AM", high=555.5, volume=1.0),
        # 00:14 is the latest minute of its 5m and 15m buckets: the job keeps such a minute in its bucket's fold
        by_minute[("LTA", midnight + 14 * 60_000)]._replace(ev="A", start_ms=midnight + 847_000,
                                                           end_ms=midnight + 848_000, low=0.25, volume=5.0),
        # 23:50 New York: the day before the watermark's (the job's state, the embedded store)
        by_minute[("LTB", midnight - 10 * 60_000)]._replace(ev="AM", low=0.75, volume=4_321.0),
    ]
    # 23:10 New York: more than 60 minutes behind the watermark (00:15)
    too_far = by_minute[("LTA", midnight - 50 * 60_000)]._replace(ev="A", start_ms=midnight - 50 * 60_000 + 7_000,
                                                                 end_ms=midnight - 50 * 60_000 + 8_000, volume=9.0)
    day_before = midnight - 25 * 3_600_000  # 2025-02-02 23:00 New York: before the watermark's previous day
    evicted = by_minute[("LTA", midnight - 30 * 60_000)]._replace(ev="AM", start_ms=day_before,
                                                                  end_ms=day_before + 60_000)
    expected, rejected = _embedded_pipeline_candles(bars + late + [too_far], tmp_path / "embedded.db")
    oracle = aggregate(bars + late)
    assert expected.keys() == oracle.keys() and all(expected[k][3:] == pytest.approx(oracle[k][3:], rel=1e-12)
                                                    for k in oracle), "late bars follow the in-window rules"
    assert len(rejected) == 1 and "seconds are no longer kept" in rejected[0]
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    publish(publisher, bars + late + [too_far, evicted])

    letters: list[schema.DeadLetter] = []
    collector = SinkConsumer(kafka_broker.bootstrap_servers, "test-late-letters", [DEAD_LETTERS],
                             lambda records: letters.extend(r.value for r in records if r.value.key == "LTA"))
    sink = CandleSink(kafka_broker.bootstrap_servers, "test-late", tmp_path / "sink.db")
    try:
        found = sink.wait_for(expected, SETTLE_S)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(letters) < 2:
            collector.poll_once(timeout=0.5)
    finally:
        sink.close()
        collector.close()
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + flink_job.log_tail()
    assert [letter.reason.split(":")[0] for letter in letters] == ["late", "late"], letters
    assert "seconds are no longer kept" in letters[0].reason and "was evicted" in letters[1].reason
    assert all(letter.source_topic == PRICES and letter.offset >= 0 for letter in letters)


def _stop_mid_stream_and_restart(kafka_broker, tmp_path, name: str, symbols: list[str], seed: int,
                                 while_stopped=lambda job: None):
    """A job on a topic of its own takes half the bars and commits them, stops; the other half is published while
    no job runs (and ``while_stopped(job)`` happens); a new job process starts. Return (expected, found, job)."""
    from backend.bus.kafka import TopicSpec, ensure_topics
    from stack.local.flink import FlinkJob

    prices = f"{name}-prices"  # its own input; its candles go to the shared candles topic
    ensure_topics(kafka_broker.bootstrap_servers, [TopicSpec(prices, 1)])
    bars = bars_of(generated_frames(symbols, minutes=40, seed=seed))
    half = len(bars) // 2
    options = {"prices-topic": prices, "group-id": f"{name}-test", "checkpoint-interval-ms": "1000"}
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    sink = CandleSink(kafka_broker.bootstrap_servers, f"test-{name}", tmp_path / "sink.db")
    job = FlinkJob(kafka_broker.bootstrap_servers, tmp_path / "job" / "job.log", options=options)
    try:
        job.start(timeout=240)
        publish(publisher, bars[:half], topic=prices)
        first = aggregate(bars[:half])
        found = sink.wait_for(first, SETTLE_S)
        assert not differences(first, found), "\n".join(differences(first, found)) + "\n" + job.log_tail()
        _wait_for_committed(kafka_broker.bootstrap_servers, f"{name}-test", prices, half)
        job.stop()
        while_stopped(job)
        publish(publisher, bars[half:], topic=prices)
        job.start(timeout=240)
        expected = aggregate(bars)
        found = sink.wait_for(expected, SETTLE_S)
    finally:
        job.stop()
        sink.close()
    return expected, found, job


def test_a_stopped_job_resumes_from_its_checkpoint_without_losing_open_candles(kafka_broker, tmp_path):
    """A new job process resumes from the newest checkpoint: its state (the open minutes and roll-ups) and
    offsets. Started empty from the committed offsets instead, it would rebuild the candles that span the
    stop from the later bars alone."""
    expected, found, job = _stop_mid_stream_and_restart(kafka_broker, tmp_path, "resume", ["RSA", "RSB", "RSC"], 5)
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + job.log_tail()
    assert "resuming from" in job.log_path.read_text()


def test_a_job_started_without_its_checkpoint_rebuilds_open_candles_from_the_whole_log(kafka_broker, tmp_path):
    """Its checkpoints gone (a lost volume, a state-incompatible upgrade), a job starts with empty state. It must
    not continue from the committed offsets — today's roll-ups would then be the fold of the later bars alone —
    but replay the retained log, so every candle is again the fold of all its children."""
    import shutil

    expected, found, job = _stop_mid_stream_and_restart(kafka_broker, tmp_path, "fresh", ["FSA", "FSB"], 9,
                                                        lambda job: shutil.rmtree(job.checkpoint_dir))
    assert not differences(expected, found), "\n".join(differences(expected, found)) + "\n" + job.log_tail()
    assert "resuming from" not in job.log_path.read_text()  # it really started without state


def _wait_for_committed(bootstrap_servers: str, group: str, topic: str, offset: int, timeout: float = 60) -> None:
    """Wait until the job has committed ``offset`` for ``topic`` (it commits when a checkpoint completes)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset >= offset:
                return
            time.sleep(0.2)
    finally:
        consumer.close()
    raise AssertionError(f"the job did not commit offset {offset} of {topic} within {timeout:.0f}s")
