"""The store stays true across restarts, late bars, failed writes, retention and the demo (issue: store truth).

Every test ends by checking the store against its own minutes: each 5m/15m/1h/1d candle must
be the fold of the stored 1m candles in its bucket — and, where the input is known, every
candle must equal the oracle's (``aggregate`` of all bars, whatever the restarts).
"""

from __future__ import annotations

import json

import pytest
from helpers import T0, assert_rollups_fold, bar

from backend.bus.base import PriceBatch
from backend.model import MINUTE_MS, Candle, Timeframe
from backend.pipeline.embedded import EmbeddedProcessor
from backend.processing.aggregator import aggregate
from backend.sources.base import SourceState
from backend.stores.sqlite import SqliteStore
from backend.timeutil import DAY_MS

M = MINUTE_MS
OPEN = 1738593000000  # 2025-02-03 14:30 UTC, 09:30 New York


def assert_equals_oracle(path, bars, symbols) -> None:
    oracle = aggregate(bars)
    store = SqliteStore(path)
    try:
        found = {c.key: c for s in symbols for tf in Timeframe for c in store.candles(s, tf)}
    finally:
        store.close()
    assert found.keys() == oracle.keys()
    for key, expected in oracle.items():
        assert found[key][3:] == pytest.approx(expected[3:], rel=1e-9), key


def run_processor(path, batches: list[list]) -> list[str]:
    """One process's life: a fresh processor on ``path`` applies each list of bars as one group."""
    processor = EmbeddedProcessor(path)
    processor.open()
    rejected = []
    try:
        for bars in batches:
            rejected += processor.process([PriceBatch(bars)]).rejected
    finally:
        processor.close()
    return rejected


def test_a_restart_never_rewrites_the_days_rollups_from_partial_memory(tmp_path):
    """The report's case: a day candle of volume 30,000 became 1,000 after one post-restart bar."""
    path = tmp_path / "store.sqlite"
    before = [bar(start=OPEN + i * M, v=1_000) for i in range(30)]
    run_processor(path, [before])
    assert SqliteStore(path).candles("AAPL", Timeframe.D1)[0].volume == 30_000
    after = [bar(start=OPEN + 30 * M, v=1_000)]
    run_processor(path, [after])  # a new process: its aggregator starts empty
    assert SqliteStore(path).candles("AAPL", Timeframe.D1)[0].volume == 31_000
    # and a correction after the restart, inside the 15-minute window, of a minute stored before it
    correction = [bar(start=OPEN + 20 * M, v=5_000, h=50)]
    run_processor(path, [correction])
    assert_rollups_fold(path, ["AAPL"])
    assert_equals_oracle(path, before + after + correction, ["AAPL"])


def test_second_bars_stay_upserts_across_a_restart(tmp_path):
    path = tmp_path / "store.sqlite"
    first = [bar(start=OPEN + s * 1_000, ev="A", v=10 + s, h=20 + s, o=11, l=9, c=12) for s in range(30)]
    run_processor(path, [first])
    resent = bar(start=OPEN + 10_000, ev="A", v=500, h=21, o=11, l=9, c=12)  # a second sent again, corrected
    rest = [bar(start=OPEN + s * 1_000, ev="A", v=10 + s, h=20 + s, o=11, l=9, c=12) for s in range(30, 60)]
    run_processor(path, [[resent] + rest])
    minute = SqliteStore(path).candles("AAPL", Timeframe.M1)[0]
    assert minute.volume == sum(10 + s for s in range(60)) - 20 + 500  # replaced, not added
    assert_equals_oracle(path, first + [resent] + rest, ["AAPL"])
    # The minute's AM bar then settles it, and a later second is ignored — also after another restart.
    am = bar(start=OPEN, v=7_777, h=99)
    run_processor(path, [[am]])
    run_processor(path, [[bar(start=OPEN + 5_000, ev="A", v=1, h=500)]])
    assert SqliteStore(path).candles("AAPL", Timeframe.M1)[0].volume == 7_777
    assert_rollups_fold(path, ["AAPL"])


def test_bars_for_a_day_memory_freed_follow_the_same_rules_against_the_store(tmp_path):
    """After midnight the previous day is freed from memory; its late bars are applied to the store exactly as
    memory would have: a re-sent second replaces itself, a second of a settled minute is ignored."""
    path = tmp_path / "store.sqlite"
    evening = 1738643400000  # 2025-02-03 23:30 New York
    seconds = [bar(start=evening + s * 1_000, ev="A", v=100, o=10, h=11, l=9, c=10) for s in range(5)]
    settled = [bar(start=evening + M, v=2_000)]
    next_day = [bar(start=evening + 50 * M + i * M, v=1_000) for i in range(20)]  # the watermark passes midnight
    late = [bar(start=evening + 2_000, ev="A", v=300, o=10, h=12, l=9, c=10),  # a re-sent second: upsert
            bar(start=evening + M + 3_000, ev="A", v=50, h=99),  # a second of a minute with its AM bar: ignored
            bar(start=evening + 3 * M, v=400)]  # an AM bar for a minute never seen: a new minute
    processor = EmbeddedProcessor(path)
    processor.open()
    try:
        for group in (seconds, settled, next_day):
            processor.process([PriceBatch(group)])
        assert processor._aggregator._symbols["AAPL"].evicted_before > evening, "the evening is freed"
        result = processor.process([PriceBatch(late)])
        assert not result.rejected
    finally:
        processor.close()
    store = SqliteStore(path)
    first = store.candles("AAPL", Timeframe.M1, evening, evening + M)[0]
    assert first.volume == 4 * 100 + 300
    assert store.candles("AAPL", Timeframe.M1, evening + M, evening + 2 * M)[0].volume == 2_000
    store.close()
    assert_rollups_fold(path, ["AAPL"])
    assert_equals_oracle(path, seconds + settled + next_day + late, ["AAPL"])


def test_a_second_beyond_the_horizon_is_rejected_with_its_reason_not_merged(tmp_path):
    path = tmp_path / "store.sqlite"
    rejected = run_processor(path, [[bar(start=OPEN + s * 1_000, ev="A") for s in range(3)],
                                    [bar(start=OPEN + 120 * M)],
                                    [bar(start=OPEN + 2_000, ev="A", v=9_999)]])
    assert len(rejected) == 1 and "seconds are no longer kept" in rejected[0]
    assert SqliteStore(path).candles("AAPL", Timeframe.M1)[0].volume == 300


def test_the_live_collector_restarted_inside_and_beyond_the_correction_window_stores_the_truth(
        tmp_path, server_loop, ws, apis, market):
    """A trader restarts the app: while it is down, the market goes on for 5 minutes (inside the 15-minute
    correction window), later for 40 (beyond it). Each start backfills from the covered mark; every stored
    candle is the truth's, and every roll-up the fold of its minutes."""
    from fakes.harness import RunningPipeline, compare_with_truth, fast_polygon_config, stored_minutes, wait_until

    from backend.model import WatchItem
    from backend.sources.polygon import PolygonSource

    items = [WatchItem(s, s) for s in market.symbols]
    path = tmp_path / "s.sqlite"
    server_loop.call(ws.tick(30))
    for down_minutes in (5, 40, 0):
        source = PolygonSource(items, "good-key", fast_polygon_config(ws.url, apis.url, tmp_path,
                                                                      subscriptions=("AM", "A")),
                               clock=market.clock)
        with RunningPipeline(path, items, [source]) as run:
            wait_until(lambda: source.status.state is SourceState.RUNNING)
            for _ in range(7):
                server_loop.call(ws.tick(), timeout=60)
            wait_until(lambda: len(stored_minutes(run.path, market.symbols)) == len(market.truth()), timeout=20)
            run.stop()
        server_loop.call(ws.tick(down_minutes), timeout=60)  # the market goes on while the app is down
    missing, extra, wrong = compare_with_truth(stored_minutes(path, market.symbols), market.truth())
    assert (missing, extra, wrong) == ([], [], [])
    assert assert_rollups_fold(path, market.symbols) > 0


def test_a_group_that_cannot_be_stored_leaves_a_gap_the_next_start_fetches(
        tmp_path, server_loop, ws, apis, market, monkeypatch):
    """A store that refuses writes (full disk) makes the pipeline give up on a group after its retries: the
    source records the gap instead of moving its covered mark past it, and the next start backfills it."""
    import backend.pipeline.embedded as embedded
    from fakes.harness import RunningPipeline, compare_with_truth, fast_polygon_config, stored_minutes, wait_until

    from backend.model import WatchItem
    from backend.sources.polygon import PolygonSource

    monkeypatch.setattr(embedded, "PROCESS_RETRY_DELAYS_S", (0.01, 0.01))
    items = [WatchItem(s, s) for s in market.symbols]
    path = tmp_path / "s.sqlite"
    server_loop.call(ws.tick(10))
    source = PolygonSource(items, "good-key", fast_polygon_config(ws.url, apis.url, tmp_path), clock=market.clock)
    with RunningPipeline(path, items, [source]) as run:
        wait_until(lambda: len(stored_minutes(run.path, market.symbols)) == len(market.truth()), timeout=20)
        real = SqliteStore.upsert_candles

        def disk_full(self, candles):
            raise OSError("database or disk is full")

        monkeypatch.setattr(SqliteStore, "upsert_candles", disk_full)
        server_loop.call(ws.tick(3))
        wait_until(lambda: source._gaps, timeout=20)
        monkeypatch.setattr(SqliteStore, "upsert_candles", real)
        server_loop.call(ws.tick(2))  # stored again: the covered mark moves, the gap stays recorded
        run.stop()
    saved = json.loads((tmp_path / "polygon_state.json").read_text())
    assert saved["gaps"], "the gap was persisted"
    assert compare_with_truth(stored_minutes(path, market.symbols), market.truth())[0], "minutes are missing"
    source = PolygonSource(items, "good-key", fast_polygon_config(ws.url, apis.url, tmp_path), clock=market.clock)
    with RunningPipeline(path, items, [source]) as run:
        wait_until(lambda: not compare_with_truth(stored_minutes(run.path, market.symbols), market.truth())[0],
                   timeout=20)
        run.stop()
    assert compare_with_truth(stored_minutes(path, market.symbols), market.truth()) == ([], [], [])
    assert not json.loads((tmp_path / "polygon_state.json").read_text())["gaps"]
    assert_rollups_fold(path, market.symbols)


def test_the_demo_continues_its_market_after_a_restart_and_never_touches_the_live_store(tmp_path):
    """Two runs of the demo: the second continues where the first stopped (its minutes are never re-created
    and contradicted), every roll-up is the fold of its minutes, and the live store does not exist."""
    import time

    from backend.pipeline.runtime import FeedChoice, build, store_path
    from backend.settings import Settings
    from backend.watchlist import default_watch_item

    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home / "settings.json")
    settings.update({"watchlist": [default_watch_item("AAPL"), default_watch_item("NFLX")],
                     "demo_history_days": 1})
    feed = FeedChoice("demo", speed=600)
    runs = []
    for _ in range(2):
        pipeline = build("embedded", settings, feed, home=home)
        pipeline.start()
        time.sleep(4)
        pipeline.stop()
        store = SqliteStore(store_path(feed, home))
        runs.append({c.key: c for s in ("AAPL", "NFLX") for c in store.candles(s, Timeframe.M1)})
        store.close()
    first, second = runs
    assert len(second) > len(first) > 0
    newest_first = max(k[2] for k in first)
    assert {k: c for k, c in second.items() if k in first} == first, "the first run's minutes are untouched"
    assert all(k[2] > newest_first for k in second.keys() - first.keys())
    assert assert_rollups_fold(store_path(feed, home), ["AAPL", "NFLX"]) > 0
    assert not store_path(FeedChoice("live"), home).exists()


def _old_candles(n: int = 30) -> list[Candle]:
    old = T0 - 400 * DAY_MS
    return [Candle("AAPL", Timeframe.M1, old + i * M, 1, 2, 0.5, 1.5, 10, 1.2, 1) for i in range(n)]


def test_retention_deletes_nothing_while_the_archive_is_unavailable(tmp_path):
    path = tmp_path / "store.sqlite"
    store = SqliteStore(path)
    store.upsert_candles(_old_candles())
    store.close()
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the archive's directory should be")  # the archive cannot open
    processor = EmbeddedProcessor(path, archive_dir=blocked, hot_retention_days=30)
    processor.open()
    status = processor.statuses()[0]
    processor.close()
    assert len(SqliteStore(path).candles("AAPL", Timeframe.M1)) == 30, "nothing deleted"
    assert status.name == "Archive" and status.state is SourceState.BACKING_OFF
    assert "retention paused, nothing deleted" in status.detail


def test_retention_archives_what_never_passed_through_the_archiver_before_deleting_it(tmp_path):
    """Candles written by ``collect`` before it archived, or in the last minute before a crash, are only in the
    hot store: retention appends them to the archive, confirms, and only then deletes them."""
    from backend.stores.iceberg_archive import IcebergArchive

    path = tmp_path / "store.sqlite"
    store = SqliteStore(path)
    store.upsert_candles(_old_candles())
    store.close()
    processor = EmbeddedProcessor(path, archive_dir=tmp_path / "archive", hot_retention_days=30)
    processor.open()
    status = processor.statuses()[0]
    processor.close()
    assert SqliteStore(path).candles("AAPL", Timeframe.M1) == []
    archived = IcebergArchive.local(tmp_path / "archive").candles("AAPL", Timeframe.M1)
    assert [c.start_ms for c in archived] == [c.start_ms for c in _old_candles()]
    assert status.state is SourceState.RUNNING and "archive" in status.detail
