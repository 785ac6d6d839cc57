"""The Flink impact job on a real broker and real jobs, against the embedded pipeline's impacts (the oracle).

Bars go through Kafka → the candle job → ``candles`` → the impact job → ``impacts``;
articles through ``news-articles`` → the candle job → ``articles`` → the impact job. The
embedded side computes the impacts with :class:`~backend.signals.impact.ImpactTracker`
over the oracle aggregator's candles in a SQLite store. Every (article, symbol) must
end with the same impact: notes and finality exactly, figures within 1e-9 relative
(the two sides' candles differ by a few ulps).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer
from impact_session import MINUTE, RECORDED_DAY, differences, embedded_impacts, fresh_names, market
from market_session import publish

from backend.bus import schema
from backend.bus.kafka import ARTICLES, DEAD_LETTERS, IMPACTS, KafkaPublisher, SinkConsumer
from backend.model import Article
from backend.timeutil import session_bounds

pytestmark = pytest.mark.integration
SETTLE_S = 240


class ImpactReader:
    """The ``impacts`` topic from the start (its own group): the latest impact per key for some symbols."""

    def __init__(self, bootstrap_servers: str, symbols: set[str]) -> None:
        self.found: dict = {}
        self._symbols = symbols
        self._consumer = SinkConsumer(bootstrap_servers, f"test-impacts-{uuid.uuid4().hex[:8]}", [IMPACTS],
                                      self._write)

    def _write(self, records) -> None:
        self.found.update((r.value.key, r.value) for r in records if r.value.symbol in self._symbols)

    def wait_for(self, expected: dict, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._consumer.poll_once(timeout=0.5) == 0 and not differences(expected, self.found):
                break
        return self.found

    def close(self) -> None:
        self._consumer.close()


@pytest.mark.timeout(600)
def test_impact_job_computes_the_embedded_impacts_for_every_article_and_symbol(
        kafka_broker, flink_job, impact_job, tmp_path):
    names = fresh_names()
    bars, articles = market(names)
    expected = embedded_impacts(bars, articles, tmp_path)
    assert len(expected) == 11  # three recorded articles and seven made ones, one on two symbols
    assert any(i.final and i.window(60).volume_z is not None for i in expected.values()), "baseline exercised"
    assert any(not i.final for i in expected.values()) and any(i.out_of_hours for i in expected.values())
    assert any(i.base_price is None for i in expected.values())
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    for article in articles[:4]:  # some articles before their candles, some after
        publisher.publish_article(article, "test")
    publish(publisher, bars)
    for article in articles[4:]:
        publisher.publish_article(article, "test")
    publisher.flush(60)
    reader = ImpactReader(kafka_broker.bootstrap_servers, set(names.values()))
    try:
        found = reader.wait_for(expected, SETTLE_S)
    finally:
        reader.close()
    problems = differences(expected, found)
    assert not problems, "\n".join(problems) + "\n" + impact_job.log_tail()
    assert impact_job.restarts() == 0, impact_job.log_tail()


@pytest.mark.timeout(600)
def test_impact_job_dead_letters_malformed_records_and_keeps_running(kafka_broker, flink_job, impact_job):
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    marker = uuid.uuid4().hex
    bad_article = json.dumps({"type": "article", "version": 1, "id": f"bad-{marker}", "published_ms": "soon"})
    publisher.produce(ARTICLES, f"bad-{marker}", bad_article.encode())
    publisher.produce(ARTICLES, f"bad-json-{marker}", b"{not json " + marker.encode())
    symbol = "I" + marker[:3].upper().replace("0", "Z")
    good = Article(f"good-{marker}", session_bounds(RECORDED_DAY)[0] + 5 * MINUTE, "Good", "https://example.org/good",
                   "business", symbols=frozenset({symbol}))
    publisher.produce(ARTICLES, good.id, schema.encode_article(good))
    publisher.flush(30)
    letters: list = []
    impacts: list = []
    # A plain consumer: the shared dead-letter topic also holds other jobs' letters, not all of them decodable.
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": f"test-dl-{marker}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([DEAD_LETTERS, IMPACTS])
    try:
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and (len(letters) < 2 or not impacts):
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None or msg.value() is None or marker.encode() not in msg.value():
                    continue
                if msg.topic() == DEAD_LETTERS:
                    letters.append(schema.decode_dead_letter(msg.value()))
                else:
                    impacts.append(schema.decode_impact(msg.value()))
    finally:
        consumer.close()
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 2 and reasons[0] == "not valid JSON: Expecting property name enclosed in double quotes: " \
        "line 1 column 2 (char 1)" and reasons[1] == "published_ms: missing or not an integer", reasons
    assert impacts and impacts[-1].base_price is None  # the record after the bad ones was processed
    assert impact_job.restarts() == 0, impact_job.log_tail()
