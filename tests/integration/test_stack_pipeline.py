"""The app's stack mode end to end on real services: a replayed session through Kafka → Flink → InfluxDB.

The stack pipeline must give the app what the embedded pipeline gives it: the live edge
through listeners and history from the hot store, candle for candle equal to the
embedded aggregator's output (the oracle).
"""

from __future__ import annotations

import gc
import json
import os
import random
import string
import threading
import time
import uuid

import pytest
from helpers import SAMPLE_SESSION, bar
from impact_session import differences, embedded_impacts, fresh_names, market

from backend.bus.kafka import KafkaPublisher
from backend.model import MINUTE_MS, Article, Timeframe
from backend.processing.aggregator import aggregate
from backend.signals.alerts import AlertRule, RuleKind
from backend.sources.demo import ReplaySource
from backend.pipeline.core import PipelineCore
from backend.pipeline.stack import StackProcessor
from backend.stores.influx import InfluxSettings
from backend.watchlist import default_watch_item
from backend.wire.polygon import parse_frame

pytestmark = pytest.mark.integration
SETTLE_S = 180


def _renamed_session(tmp_path):
    """The recorded sample with its tickers renamed: the session's job has seen the sample itself in other
    tests, and Flink does not re-emit a candle whose value did not change."""
    rng = random.Random()
    names = {s: "Q" + "".join(rng.choice(string.ascii_uppercase) for _ in range(3)) for s in ("AAPL", "AMZN")}
    names["BRK.B"] = names["AAPL"][:3] + ".B"
    session = tmp_path / "session"
    session.mkdir()
    frames = []
    for line in (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines():
        messages = json.loads(line)
        for m in messages:
            if "sym" in m:
                m["sym"] = names[m["sym"]]
        frames.append(json.dumps(messages))
    (session / "polygon.jsonl").write_text("\n".join(frames) + "\n")
    (session / "guardian.jsonl").write_text((SAMPLE_SESSION / "guardian.jsonl").read_text())
    bars = [b for f in frames for b in parse_frame(f).bars]
    return session, list(names.values()), bars


def test_stack_mode_serves_history_and_live_candles_equal_to_the_embedded_aggregator(
        kafka_broker, flink_job, influx_server, tmp_path):
    session, symbols, bars = _renamed_session(tmp_path)
    expected = aggregate(bars)
    settings = InfluxSettings(url=influx_server.url, token="tickerwire:unused",
                              bucket=f"s_{uuid.uuid4().hex[:10]}/hot", retention_days=None)
    live: dict = {}
    articles: dict = {}
    lock = threading.Lock()

    def listener(update):
        with lock:
            live.update((c.key, c) for c in update.candles)
            articles.update((a.id, a) for a in update.articles)

    items = [default_watch_item(s) for s in symbols] + [default_watch_item("AMZN")]  # AMZN: the news query
    pipeline = PipelineCore(StackProcessor(kafka_broker.bootstrap_servers, settings), items,
                            lambda _: [ReplaySource(session, speed=0)])
    pipeline.add_listener(listener)
    # The live feed reads from the newest offset: give its consumer time to join before the replay lands.
    pipeline.start()
    try:
        def stored():
            return {c.key: c for s in symbols for tf in Timeframe for c in pipeline.processor.store.candles(s, tf)}

        deadline = time.monotonic() + SETTLE_S
        history = {}
        while time.monotonic() < deadline:
            history = stored()
            if _equal(history, expected):
                break
            time.sleep(1.0)
        assert _equal(history, expected), f"missing {sorted(set(expected) - set(history))[:5]}"
        series = pipeline.load_candles(symbols[0], Timeframe.M1).result(30)
        assert list(series.start) == sorted(k[2] for k in expected if k[0] == symbols[0] and k[1] is Timeframe.M1)
        assert series.volume[1] == 229812  # the corrected minute, once
        news = pipeline.load_articles(["AMZN"]).result(30)
        assert [a.id for a in news] == ["technology/2025/feb/03/amazon-cloud-revenue-ai-spending"]
        with lock:
            # The session's job also emits other tests' symbols.
            ours = {k: c for k, c in live.items() if k[0] in symbols}
            assert ours, "the live edge delivered candles from the candles topic"
            assert set(ours) <= set(expected)
            assert _equal(ours, {k: expected[k] for k in ours})  # the latest version of each is the final one
        names = {s.name for s in pipeline.statuses()}
        assert {"Kafka", "InfluxDB"} <= names
    finally:
        pipeline.stop()
    # Released, not left reconnecting: once Python has collected the stopped pipeline's garbage, no client of
    # this process holds a connection to the broker.
    broker_port = int(kafka_broker.bootstrap_servers.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while _connections_to(broker_port) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)
    assert not _connections_to(broker_port), "a Kafka client of the stopped pipeline still holds a connection"


def _connections_to(port: int) -> int:
    """This process's TCP connections to ``port`` (from /proc: its socket inodes against the kernel's table)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes and fields[3] == "01":
                    count += 1
    return count


def _equal(found: dict, expected: dict) -> bool:
    if found.keys() != expected.keys():
        return False
    return all(found[k][3:] == pytest.approx(expected[k][3:], rel=1e-9) for k in expected)


@pytest.mark.timeout(600)
def test_stack_mode_delivers_the_impact_jobs_impacts_and_fires_alerts(
        kafka_broker, flink_job, impact_job, influx_server, tmp_path):
    names = fresh_names()
    symbols = sorted(names.values())
    bars, articles = market(names)
    expected = embedded_impacts(bars, articles, tmp_path)
    # Alerts need fresh events: a +3% minute and an article, now, on a symbol of their own.
    fresh = "J" + names["AMZN"][1:]
    minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS - 3 * MINUTE_MS
    moves = [bar(fresh, minute, o=100, h=100.2, l=99.9, c=100), bar(fresh, minute + MINUTE_MS, o=100, h=103.2, l=100, c=103)]
    news = Article(f"test/{uuid.uuid4().hex[:8]}/fresh", minute + MINUTE_MS + 5_000, "Fresh news", "https://example.org/f",
                   "business", symbols=frozenset({fresh}))
    settings = InfluxSettings(url=influx_server.url, token="tickerwire:unused",
                              bucket=f"s_{uuid.uuid4().hex[:10]}/hot", retention_days=None)
    live_impacts: dict = {}
    alerts: list = []
    fresh_minutes: set = set()
    lock = threading.Lock()

    def listener(update):
        with lock:
            fresh_minutes.update(c.start_ms for c in update.candles if c.symbol == fresh)
            live_impacts.update((i.key, i) for i in update.impacts if i.symbol in symbols)
            alerts.extend(a for a in update.alerts if a.symbol == fresh)

    pipeline = PipelineCore(StackProcessor(kafka_broker.bootstrap_servers, settings),
                            [default_watch_item(s) for s in [*symbols, fresh]], lambda _: [])
    pipeline.add_listener(listener)
    pipeline.start()
    try:
        pipeline.set_alert_rules([AlertRule(RuleKind.PRICE_MOVE, 2.0, 1, cooldown_s=0, symbols=frozenset({fresh})),
                                  AlertRule(RuleKind.NEW_ARTICLE, cooldown_s=0, symbols=frozenset({fresh}))],
                                 max_age_s=3600).result(30)
        publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
        for b in bars + moves[:1]:
            publisher.publish_bar(b)
            publisher.poll(0)
        publisher.flush(60)
        # A live feed sends a minute after the one before it; the candles topic (keyed by symbol|timeframe|start)
        # does not keep a symbol's minutes in order across partitions, so wait for the first before the second.
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and minute not in fresh_minutes:
            time.sleep(0.2)
        publisher.publish_bar(moves[1])
        for article in articles + [news]:
            publisher.publish_article(article, "test")
        publisher.flush(60)
        deadline = time.monotonic() + SETTLE_S
        stored: dict = {}
        while time.monotonic() < deadline:
            stored = {i.key: i for i in pipeline.load_impacts(symbols).result(30)}
            with lock:
                done = not differences(expected, stored) and not differences(expected, live_impacts) \
                    and {a.rule.kind for a in alerts} == {RuleKind.PRICE_MOVE, RuleKind.NEW_ARTICLE}
            if done:
                break
            time.sleep(1.0)
        assert not differences(expected, stored), "\n".join(differences(expected, stored))
        with lock:
            assert not differences(expected, live_impacts), "the live edge delivered every impact's final figures"
            kinds = sorted(a.rule.kind for a in alerts)
            assert kinds == [RuleKind.NEW_ARTICLE, RuleKind.PRICE_MOVE], alerts
            move = next(a for a in alerts if a.rule.kind is RuleKind.PRICE_MOVE)
            assert move.value == pytest.approx(3.0) and move.at_ms == minute + MINUTE_MS
        # this run's own article (the recorded ones are shared with other tests' symbols in the topic)
        two = next(i.article_id for i in expected.values() if i.article_id.endswith("/two-symbols"))
        assert [i.key for i in pipeline.load_impacts_for_article(two).result(30)] == \
            sorted(k for k in expected if k[0] == two)
    finally:
        pipeline.stop()
