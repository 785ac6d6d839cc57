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
import math
import random
import string
import time
import uuid
from datetime import date

import pytest
from helpers import SAMPLE_SESSION
from market_session import bars_of, generated_frames, publish, recorded_bars

from backend.bus import schema
from backend.bus.kafka import ARTICLES, DEAD_LETTERS, IMPACTS, KafkaPublisher, SinkConsumer
from backend.model import Article
from backend.processing.aggregator import aggregate
from backend.signals.impact import ImpactTracker, impact_to_dict
from backend.signals.impact_store import StoreCandleHistory
from backend.stores.sqlite import SqliteStore
from backend.timeutil import session_bounds
from backend.wire.guardian import parse_search_page

pytestmark = pytest.mark.integration
SETTLE_S = 240
MINUTE = 60_000
#: Sessions before the recorded one (Mon 3 Feb 2025): the volume baseline needs at least three.
EARLIER_DAYS = [date(2025, 1, d) for d in (27, 28, 29, 30, 31)]
RECORDED_DAY = date(2025, 2, 3)


def _names() -> dict[str, str]:
    """Fresh tickers per run: the session's jobs keep state for the sample's own tickers from other tests."""
    rng = random.Random()
    names = {s: "I" + "".join(rng.choice(string.ascii_uppercase) for _ in range(3)) for s in ("AAPL", "AMZN")}
    names["BRK.B"] = names["AAPL"][:3] + ".B"
    return names


def market(names: dict[str, str]):
    """The recorded session (renamed) after five generated mornings and followed by a generated hour, and articles.

    Articles: the recorded Guardian article, plus ones published in the session, before
    the open, at the weekend, before any candle, near the close and on two symbols.
    """
    bars = [b._replace(symbol=names[b.symbol]) for b in recorded_bars()]
    symbols = sorted(names.values())
    for i, day in enumerate(EARLIER_DAYS):
        open_ms, _ = session_bounds(day)
        bars += bars_of(generated_frames(symbols, minutes=80, seed=i, start_ms=open_ms - 10 * MINUTE))
        bars += bars_of(generated_frames(symbols, minutes=20, seed=50 + i, start_ms=open_ms + 370 * MINUTE))
    open_ms, _ = session_bounds(RECORDED_DAY)
    bars += bars_of(generated_frames(symbols, minutes=80, seed=99, start_ms=open_ms + 7 * MINUTE))
    page = (SAMPLE_SESSION / "guardian.jsonl").read_text().splitlines()[0]
    recorded = parse_search_page(json.dumps(json.loads(page)["page"]), frozenset({names["AMZN"]}), "Amazon").articles
    assert recorded
    amzn, aapl, brk = names["AMZN"], names["AAPL"], names["BRK.B"]
    thursday_open, _ = session_bounds(EARLIER_DAYS[3])
    friday_open, friday_close = session_bounds(EARLIER_DAYS[4])
    monday_open, _ = session_bounds(EARLIER_DAYS[0])
    made = [
        ("in-session", thursday_open + 31 * MINUTE + 5_000, {aapl}),
        ("two-symbols", open_ms + 15 * MINUTE, {aapl, brk}),
        ("pre-market", open_ms - 100 * MINUTE, {amzn}),
        ("weekend", friday_close + 30 * 3_600_000, {aapl}),
        ("before-any-candle", monday_open - 60 * MINUTE, {brk}),
        ("near-close", friday_close - 8 * MINUTE, {amzn}),
        ("still-pending", open_ms + 70 * MINUTE, {amzn}),
    ]
    articles = recorded + [Article(f"test/{uuid.uuid4().hex[:8]}/{label}", published, f"Headline {label}",
                                   f"https://www.theguardian.com/{label}", "business", symbols=frozenset(symbols_))
                           for label, published, symbols_ in made]
    return bars, articles


def embedded_impacts(bars, articles, tmp_path) -> dict:
    """The embedded pipeline's figures: the oracle's candles in the SQLite store, the tracker over them."""
    candles = list(aggregate(bars).values())
    store = SqliteStore(tmp_path / "oracle.db")
    try:
        store.upsert_candles(candles)
        store.flush()
        return {i.key: i for i in ImpactTracker(StoreCandleHistory(store)).apply(candles, articles)}
    finally:
        store.close()


def differences(expected: dict, found: dict) -> list[str]:
    out = [f"missing {k}" for k in sorted(expected.keys() - found.keys())]
    out += [f"unexpected {k}" for k in sorted(found.keys() - expected.keys())]
    for key in sorted(expected.keys() & found.keys()):
        if not _close(impact_to_dict(expected[key]), impact_to_dict(found[key])):
            out.append(f"{key}: expected {expected[key]}\n    found {found[key]}")
    return out


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


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


def test_impact_job_computes_the_embedded_impacts_for_every_article_and_symbol(
        kafka_broker, flink_job, impact_job, tmp_path):
    names = _names()
    bars, articles = market(names)
    expected = embedded_impacts(bars, articles, tmp_path)
    assert len(expected) == 9
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

    def collect(records):
        letters.extend(r.value for r in records if r.topic == DEAD_LETTERS and marker in r.value.payload)
        impacts.extend(r.value for r in records if r.topic == IMPACTS and r.value.article_id == good.id)

    consumer = SinkConsumer(kafka_broker.bootstrap_servers, f"test-dl-{marker}", [DEAD_LETTERS, IMPACTS], collect)
    try:
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and (len(letters) < 2 or not impacts):
            consumer.poll_once(timeout=0.5)
    finally:
        consumer.close()
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 2 and reasons[0] == "not valid JSON: Expecting property name enclosed in double quotes: " \
        "line 1 column 2 (char 1)" and reasons[1] == "published_ms: missing or not an integer", reasons
    assert impacts and impacts[-1].base_price is None  # the record after the bad ones was processed
    assert impact_job.restarts() == 0, impact_job.log_tail()
