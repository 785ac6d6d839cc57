"""The embedded pipeline end to end: demo and replay feeds through parsing, aggregation and the store."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import SAMPLE_SESSION, embedded_pipeline, sample_bars

from backend.model import Timeframe, WatchItem
from backend.pipeline import PipelineUpdate
from backend.processing.aggregator import aggregate
from backend.sources.demo import ReplaySource, SyntheticSource, demo_start_ms
from backend.watchlist import default_watch_item


class Collector:
    """Listener that records updates and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.updates: list[PipelineUpdate] = []
        self._cv = threading.Condition()

    def __call__(self, update: PipelineUpdate) -> None:
        with self._cv:
            self.updates.append(update)
            self._cv.notify_all()

    def wait_for(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("condition not reached in time")
                self._cv.wait(left)

    @property
    def candles(self):
        return [c for u in self.updates for c in u.candles]

    @property
    def articles(self):
        return [a for u in self.updates for a in u.articles]


@pytest.fixture
def run_pipeline(tmp_path):
    started = []

    def start(watchlist, sources):
        pipeline = embedded_pipeline(tmp_path / "store.sqlite", watchlist, sources)
        collector = Collector()
        pipeline.add_listener(collector)
        pipeline.start()
        started.append(pipeline)
        return pipeline, collector

    yield start
    for p in started:
        p.stop()


def test_replay_of_recorded_session_stores_what_the_aggregator_computes(run_pipeline):
    watchlist = [default_watch_item(s) for s in ("AAPL", "AMZN", "BRK.B")]
    pipeline, got = run_pipeline(watchlist, lambda items: [ReplaySource(SAMPLE_SESSION, speed=0)])
    got.wait_for(lambda c: c.articles and len({k.key for k in c.candles}) >= len(aggregate(sample_bars())))
    expected = aggregate(sample_bars())
    for (symbol, tf, start), candle in expected.items():
        stored = pipeline.load_candles(symbol, tf).result()
        i = list(stored.start).index(start)
        assert stored.close[i] == pytest.approx(candle.close) and stored.volume[i] == candle.volume
    # Relevance: only the Amazon technology story reaches AMZN; not the rainforest, not the politics live blog.
    articles = pipeline.load_articles(["AMZN"]).result()
    assert [a.id for a in articles] == ["technology/2025/feb/03/amazon-cloud-revenue-ai-spending"]


def test_demo_feed_streams_candles_news_snapshots_and_status(run_pipeline):
    watchlist = [default_watch_item("AAPL"), default_watch_item("NFLX")]
    start = demo_start_ms(1764345600000)  # a fixed instant: the demo is deterministic
    pipeline, got = run_pipeline(watchlist, lambda items: [SyntheticSource(items, seed=1, speed=200,
                                                                           history_days=1, start_ms=start)])
    got.wait_for(lambda c: any(x.timeframe is Timeframe.M1 and x.start_ms >= start for x in c.candles)
                 and c.articles and any(u.statuses for u in c.updates))
    series = pipeline.load_candles("AAPL", Timeframe.M1).result()
    assert len(series) >= 390  # at least one full session of history
    assert (series.high >= series.low).all() and (series.start[1:] > series.start[:-1]).all()
    snaps = pipeline.load_snapshots(["AAPL"]).result()
    assert snaps[0].last > 0 and snaps[0].day_volume > 0
    status = [u.statuses for u in got.updates if u.statuses][-1][0]
    assert status.name == "Demo market" and status.messages > 0
    assert all(a.symbols <= {"AAPL", "NFLX"} and a.symbols for a in got.articles)


def test_watchlist_change_applies_live(run_pipeline):
    start = demo_start_ms(1764345600000)
    pipeline, got = run_pipeline([default_watch_item("AAPL")],
                                 lambda items: [SyntheticSource(items, seed=2, speed=200, history_days=0,
                                                                start_ms=start)])
    got.wait_for(lambda c: any(x.symbol == "AAPL" for x in c.candles))
    pipeline.set_watchlist([default_watch_item("AAPL"), default_watch_item("TSLA")])
    got.wait_for(lambda c: any(x.symbol == "TSLA" for x in c.candles))
    assert len(pipeline.load_candles("TSLA", Timeframe.M1).result()) > 0


def test_malformed_messages_are_rejected_and_the_pipeline_keeps_going(run_pipeline, tmp_path):
    session = tmp_path / "bad"
    session.mkdir()
    good = (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines()
    (session / "polygon.jsonl").write_text("\n".join([good[3], "garbage{", '[{"ev":"AM","sym":"X"}]', good[4]]))
    pipeline, got = run_pipeline([WatchItem("AAPL", "Apple", ())],
                                 lambda items: [ReplaySource(session, speed=0)])
    got.wait_for(lambda c: sum(len(u.rejected) for u in c.updates) >= 2
                 and len(pipeline.load_candles("AAPL", Timeframe.M1).result()) == 2)
    assert pipeline.rejected_total >= 2


def test_synthetic_market_is_deterministic_per_seed():
    from backend.demo.synthetic import SymbolWalk

    a, b, c = SymbolWalk("AAPL", 5), SymbolWalk("AAPL", 5), SymbolWalk("AAPL", 6)
    bars_a = [a.bar("AM", 1764340200000 + i * 60_000, 60) for i in range(50)]
    bars_b = [b.bar("AM", 1764340200000 + i * 60_000, 60) for i in range(50)]
    bars_c = [c.bar("AM", 1764340200000 + i * 60_000, 60) for i in range(50)]
    assert bars_a == bars_b and bars_a != bars_c
    assert all(x.low <= min(x.open, x.close) and x.high >= max(x.open, x.close) for x in bars_a)


def test_stop_processes_everything_already_received(tmp_path):
    """Messages on the bus when stop() is called are processed and stored, not dropped."""
    from backend.bus.base import PriceBatch
    from helpers import bar

    class Burst:
        """A source that publishes many frames at once and then waits to be cancelled."""

        name = "burst"

        def __init__(self) -> None:
            self.published = threading.Event()

        @property
        def status(self):
            from backend.sources.base import SourceState, SourceStatus
            return SourceStatus(self.name, SourceState.RUNNING)

        def set_watchlist(self, items):
            pass

        async def run(self, bus):
            import asyncio
            batches = [PriceBatch([bar(start=1738593060000 + i * 60_000)]) for i in range(N)]
            for batch in batches:  # no await suspends on a queue with room: all are queued before any is processed
                await bus.publish(batch)
            self.published.set()
            await asyncio.Event().wait()

    N = 20_000
    source = Burst()
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", [default_watch_item("AAPL")], lambda items: [source])
    pipeline.start()
    assert source.published.wait(20)
    pipeline.stop()
    from backend.stores.sqlite import SqliteStore
    assert len(SqliteStore(tmp_path / "store.sqlite").candles("AAPL", Timeframe.M1)) == N


def test_commands_issued_before_the_store_opens_wait_for_it(tmp_path, monkeypatch):
    """The window applies alert rules and asks for impacts right after constructing the pipeline, while the
    worker may still be opening the store: those calls queue behind it instead of failing."""
    import backend.pipeline.embedded as pipeline_module
    from backend.signals.alerts import DEFAULT_RULES

    opened = pipeline_module.SqliteStore

    def slow_open(path):
        time.sleep(0.3)
        return opened(path)

    monkeypatch.setattr(pipeline_module, "SqliteStore", slow_open)
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", [default_watch_item("AAPL")], lambda items: [])
    applied = pipeline.set_alert_rules(DEFAULT_RULES[:1])
    assert pipeline.load_impacts_for_article("world/2025/feb/03/x").result(5) == []
    assert pipeline.load_impacts(["AAPL"]).result(5) == []
    assert applied.result(5) is None
    pipeline.stop()


def test_a_failing_batch_is_retried_and_processing_goes_on(tmp_path, monkeypatch, caplog):
    """An unexpected error while processing (here: the database is locked twice) is logged and the batch is
    retried; the processing loop survives and nothing is lost."""
    import sqlite3

    import backend.pipeline.embedded as pipeline_module
    from backend.stores.sqlite import SqliteStore

    monkeypatch.setattr(pipeline_module, "PROCESS_RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    failures = [sqlite3.OperationalError("database is locked")] * 2
    real_upsert = SqliteStore.upsert_candles

    def flaky_upsert(self, candles):
        if failures:
            raise failures.pop()
        return real_upsert(self, candles)

    monkeypatch.setattr(SqliteStore, "upsert_candles", flaky_upsert)
    expected = {k: c for k, c in aggregate(sample_bars()).items() if k[0] == "AAPL" and k[1] is Timeframe.M1}
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", [default_watch_item("AAPL")],
                        lambda items: [ReplaySource(SAMPLE_SESSION, speed=0)])
    pipeline.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(pipeline.load_candles("AAPL", Timeframe.M1).result().start) < len(expected):
        time.sleep(0.05)
    stored = pipeline.load_candles("AAPL", Timeframe.M1).result()
    pipeline.stop()
    assert list(stored.start) == sorted(start for _, _, start in expected)
    assert list(stored.close) == [expected[("AAPL", Timeframe.M1, t)].close for t in stored.start]
    assert not failures
    assert "processing a group" in caplog.text and "database is locked" in caplog.text


def test_a_processor_that_dies_is_reported_not_silent(tmp_path, monkeypatch):
    """If processing itself stops (a bug), the pipeline says so: a failed "Pipeline" status for the window's
    status bar and ``failed`` for ``collect``'s exit code."""
    from backend.pipeline.embedded import EmbeddedProcessor
    from backend.sources.base import SourceState

    async def broken(self, host):
        raise RuntimeError("a bug in processing")

    monkeypatch.setattr(EmbeddedProcessor, "run", broken)
    got = Collector()
    pipeline = embedded_pipeline(tmp_path / "store.sqlite", [default_watch_item("AAPL")], lambda items: [])
    pipeline.add_listener(got)
    pipeline.start()
    try:
        assert pipeline.failed.wait(10)
        status = next(s for s in pipeline.statuses() if s.name == "Pipeline")
        assert status.state is SourceState.FAILED and "a bug in processing" in status.detail
        got.wait_for(lambda c: any(s.name == "Pipeline" for u in c.updates for s in u.statuses))
    finally:
        pipeline.stop()
