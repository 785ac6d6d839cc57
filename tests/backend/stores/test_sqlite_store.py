"""The embedded SQLite store: upserts, queries, article merging, and durability under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from helpers import T0, sample_bars

from backend.model import Article, Candle, Timeframe
from backend.processing.aggregator import aggregate
from backend.stores.sqlite import SqliteStore


def _candle(start, close=1.0, symbol="AAPL", tf=Timeframe.M1):
    return Candle(symbol, tf, start, 1.0, 2.0, 0.5, close, 10.0, 1.2, 3)


def test_candles_upsert_and_range_queries(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    store.upsert_candles([_candle(T0 + i * 60_000) for i in range(10)])
    store.upsert_candles([_candle(T0 + 60_000, close=9.0)])  # a correction
    got = store.candles("AAPL", Timeframe.M1, T0 + 60_000, T0 + 3 * 60_000)
    assert [c.start_ms for c in got] == [T0 + 60_000, T0 + 120_000]
    assert got[0].close == 9.0 and got[0].timeframe is Timeframe.M1
    assert len(store.candles("AAPL", Timeframe.M1)) == 10
    assert store.candles("AAPL", Timeframe.M5) == []


def test_sample_session_round_trips_through_the_store(tmp_path):
    candles = aggregate(sample_bars())
    store = SqliteStore(tmp_path / "s.db")
    store.upsert_candles(candles.values())
    store.upsert_candles(candles.values())  # a replay changes nothing
    stored = {c.key: c for s in ("AAPL", "AMZN", "BRK.B") for tf in Timeframe for c in store.candles(s, tf)}
    assert stored == candles


def test_articles_merge_symbols_and_update_republished_text(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    a = Article("id1", T0, "First headline", "u", "business", symbols=frozenset({"AAPL"}), updated_ms=1)
    b = Article("id1", T0, "Updated headline", "u", "business", symbols=frozenset({"MSFT"}), updated_ms=2)
    store.upsert_articles([a])
    store.upsert_articles([b])
    got = store.articles()
    assert len(got) == 1
    assert got[0].title == "Updated headline" and got[0].symbols == {"AAPL", "MSFT"}
    assert [x.id for x in store.articles(symbols=["MSFT"])] == ["id1"]
    assert store.articles(symbols=["TSLA"]) == []
    assert store.articles(start_ms=T0 + 1) == []


WRITER = textwrap.dedent("""
    import sys
    from backend.model import Candle, Timeframe
    from backend.stores.sqlite import SqliteStore
    store = SqliteStore(sys.argv[1])
    batch = 0
    while True:
        store.upsert_candles([Candle("AAPL", Timeframe.M1, batch * 1000 + i, 1, 2, 0.5, 1.5, 10, 1.2, batch)
                              for i in range(1000)])
        print(batch, flush=True)  # acknowledged only after the commit returned
        batch += 1
""")


def test_sigkill_mid_write_loses_only_the_unacknowledged_tail(tmp_path):
    path = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = SqliteStore(path)
    assert store.integrity_check() == "ok"
    rows = store.candles("AAPL", Timeframe.M1)
    batches = {c.trades for c in rows}
    # Every acknowledged batch is there in full; at most the batch in flight beyond them.
    assert set(range(acknowledged + 1)) <= batches
    assert len(rows) % 1000 == 0 and len(rows) // 1000 == len(batches)
    assert max(batches) <= acknowledged + 2
