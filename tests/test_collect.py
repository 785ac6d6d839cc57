"""``tickerwire collect`` as a real subprocess against the local Polygon and Guardian servers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from app.cli import main
from fakes.harness import wait_until
from fakes.http_api import FakeApis
from fakes.loop_thread import LoopThread
from fakes.market import FakeMarket
from fakes.polygon_ws import FakePolygonWs
from helpers import seed_covered_before

REPO = Path(__file__).resolve().parents[1]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(db: Path, symbols) -> dict:
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(f"SELECT symbol, start, open, high, low, close, volume FROM candles WHERE timeframe='1m' "
                           f"AND symbol IN ({','.join('?' * len(symbols))})", list(symbols)).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()
    return {(r[0], r[1]): r[2:] for r in rows}


def _article_ids(db: Path) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT id FROM articles")]
    finally:
        con.close()


def test_collect_runs_headless_and_stops_cleanly_on_sigterm(tmp_path):
    market_start = int(time.time() * 1000) - 40 * 60_000
    market = FakeMarket(symbols=("AAPL", "AMZN"), start_ms=market_start, gap_every={})
    loop = LoopThread().start()
    ws = loop.call(FakePolygonWs(market, valid_keys=("poly-secret",)).start())
    apis = FakeApis(market, polygon_keys=("poly-secret",), guardian_keys=("guard-secret",)).start()
    now = time.time()
    apis.corpus.add("technology/x/amazon-chips", _iso(now - 3600), "Amazon unveils chips", "technology")
    apis.corpus.add("business/x/apple-results", _iso(now - 7200), "Apple results beat forecasts", "business")
    apis.corpus.add("world/x/amazon-river", _iso(now - 600), "Amazon river levels fall", "world")
    apis.tickers.update(AAPL="Apple Inc.", AMZN="Amazon.com, Inc.")
    loop.call(ws.tick(20))
    home = tmp_path / "home"
    seed_covered_before(home, ("AAPL", "AMZN"), market_start)
    env = dict(os.environ, TICKERWIRE_HOME=str(home), MASSIVE_API_KEY="poly-secret", GUARDIAN_API_KEY="guard-secret",
               TICKERWIRE_POLYGON_WS_URL=ws.url, TICKERWIRE_POLYGON_REST_URL=apis.url,
               TICKERWIRE_GUARDIAN_URL=apis.url, PYTHONPATH=str(REPO))
    log_path = tmp_path / "collect.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "collect", "--watch", "AAPL,AMZN"], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        db = home / "store.sqlite"
        wait_until(lambda: "Polygon/Massive: running" in log_path.read_text(), timeout=30)
        for _ in range(5):
            loop.call(ws.tick())
            time.sleep(0.05)
        truth = market.truth()
        wait_until(lambda: set(_minutes(db, ["AAPL", "AMZN"])) == set(truth), timeout=30)
        wait_until(lambda: len(apis.guardian_requests) >= 1, timeout=30)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        loop.call(ws.close())
        loop.stop()
        apis.close()
    output = log_path.read_text()
    stored = _minutes(db, ["AAPL", "AMZN"])
    assert set(stored) == set(truth)
    for key, bar in truth.items():
        assert stored[key] == (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"])
    assert sorted(_article_ids(db)) == ["business/x/apple-results", "technology/x/amazon-chips"]
    assert apis.guardian_requests[0]["q"] == "Apple OR Amazon"  # one query for the watchlist
    assert sorted(apis.reference_requests) == ["AAPL", "AMZN"]  # company names looked up once, then cached
    assert '"Amazon.com, Inc."' in (home / "ticker_names.json").read_text()
    assert "stopping: signal received" in output and "stopped; the store holds 50 one-minute candles" in output
    assert output.count("Polygon/Massive: running") == 1 and output.count("Guardian news: running") == 1
    assert "poly-secret" not in output and "guard-secret" not in output
    assert not (home / "store.sqlite-wal").exists() or (home / "store.sqlite-wal").stat().st_size == 0


def test_collect_without_keys_says_what_to_do(capsys):
    assert main(["collect", "--watch", "AAPL"]) == 2
    assert "no API keys" in capsys.readouterr().err


def test_collect_rejects_a_bad_symbol(capsys, monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", "k")
    assert main(["collect", "--watch", "AAPL,not a ticker!"]) == 2
    assert "--watch: ticker" in capsys.readouterr().err


def test_a_collector_killed_mid_backlog_loses_no_minute_after_a_restart(tmp_path):
    """SIGKILL while a long backfill and the live stream are being stored; the next run backfills from what
    the store had committed (the covered mark moves only on the store's commit): every minute is there, and
    every roll-up is the fold of its minutes."""
    from helpers import assert_rollups_fold

    from backend.stores.sqlite import SqliteStore
    
    symbols = ("AAPL", "AMZN", "MSFT", "NVDA")
    market_start = int(time.time() * 1000) - 900 * 60_000
    market = FakeMarket(symbols=symbols, start_ms=market_start, gap_every={})
    loop = LoopThread().start()
    ws = loop.call(FakePolygonWs(market, valid_keys=("poly-secret",)).start())
    apis = FakeApis(market, polygon_keys=("poly-secret",), guardian_keys=("guard-secret",), page_size=30).start()
    loop.call(ws.tick(880), timeout=60)  # 880 minutes before the first start: a long backfill, 30 bars a page
    home = tmp_path / "home"
    seed_covered_before(home, symbols, market_start)  # (without it the test failed 00:00-15:00 New York time)
    env = dict(os.environ, TICKERWIRE_HOME=str(home), MASSIVE_API_KEY="poly-secret", GUARDIAN_API_KEY="guard-secret",
               TICKERWIRE_POLYGON_WS_URL=ws.url, TICKERWIRE_POLYGON_REST_URL=apis.url,
               TICKERWIRE_GUARDIAN_URL=apis.url, PYTHONPATH=str(REPO))
    db = home / "store.sqlite"
    command = [sys.executable, "-m", "app.cli", "collect", "--watch", ",".join(symbols)]
    procs = []
    try:
        with open(tmp_path / "first.log", "w") as log:
            procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_until(lambda: len(_minutes(db, symbols)) > 300, timeout=60)
        for _ in range(3):
            loop.call(ws.tick())
        procs[0].kill()  # SIGKILL: no drain, no state saved at exit
        procs[0].wait(10)
        stored_at_kill = len(_minutes(db, symbols))
        assert stored_at_kill < len(market.truth()), "killed before everything was stored"
        loop.call(ws.tick(4))  # the market goes on while nothing runs
        with open(tmp_path / "second.log", "w") as log:
            procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_until(lambda: "Polygon/Massive: running" in (tmp_path / "second.log").read_text(), timeout=60)
        for _ in range(3):
            loop.call(ws.tick())
        truth = market.truth()
        wait_until(lambda: set(_minutes(db, symbols)) == set(truth), timeout=90)
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(timeout=60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        loop.call(ws.close())
        loop.stop()
        apis.close()
    stored = _minutes(db, symbols)
    for key, bar in truth.items():
        assert stored[key] == (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]), key
    assert SqliteStore(db).integrity_check() == "ok"
    assert assert_rollups_fold(db, symbols) > 0
