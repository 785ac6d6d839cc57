"""The app's stack mode end to end on real services: a replayed session through Kafka → Flink → InfluxDB.

The StackPipeline must give the app what the embedded pipeline gives it: the live edge
through listeners and history from the hot store, candle for candle equal to the
embedded aggregator's output (the oracle).
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
import uuid

import pytest
from helpers import SAMPLE_SESSION

from backend.model import Timeframe
from backend.processing.aggregator import aggregate
from backend.sources.demo import ReplaySource
from backend.stack_pipeline import StackPipeline
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
                              bucket=f"s_{uuid.uuid4().hex[:10]}/hot", retention_days=None, flush_interval_s=0)
    live: dict = {}
    articles: dict = {}
    lock = threading.Lock()

    def listener(update):
        with lock:
            live.update((c.key, c) for c in update.candles)
            articles.update((a.id, a) for a in update.articles)

    items = [default_watch_item(s) for s in symbols] + [default_watch_item("AMZN")]  # AMZN: the news query
    pipeline = StackPipeline(kafka_broker.bootstrap_servers, settings, items,
                             lambda _: [ReplaySource(session, speed=0)])
    pipeline.add_listener(listener)
    # The live feed reads from the newest offset: give its consumer time to join before the replay lands.
    pipeline.start()
    try:
        def stored():
            return {c.key: c for s in symbols for tf in Timeframe for c in pipeline.store.candles(s, tf)}

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


def _equal(found: dict, expected: dict) -> bool:
    if found.keys() != expected.keys():
        return False
    return all(found[k][3:] == pytest.approx(expected[k][3:], rel=1e-9) for k in expected)
